//! A scripted process lifetime: every field of the process, thread, image, handle and registry
//! events in its documented context.

#[allow(clippy::wildcard_imports)]
use super::*;

// --- 1. A scripted scenario --------------------------------------------------------

#[test]
fn scripted_process_lifetime_fills_every_field_in_the_documented_context() {
    let mut kernel = loaded();
    let _ = ntsim::ps::take_invocations();
    let (parent, parent_tid) = (0x1_1000_u64, 0x1_1004_u64);
    let (child, child_tid) = (0x1_1100_u64, 0x1_1104_u64);
    let other = 0x1_1200_u64;
    let image = "\\??\\C:\\Program Files\\App\\child.exe";
    let command_line = "\"C:\\Program Files\\App\\child.exe\" --flag value";
    let process_routine = ntsim::ps::process_routines()[0].0;
    let thread_routine = ntsim::ps::thread_routines()[0];
    let image_routine = ntsim::ps::load_image_routines()[0];
    let registry_routine = ntsim::registry::callbacks()[0].0;

    // The parent's thread creates the child.
    let create = trigger::ProcessCreate {
        pid: child,
        parent_pid: parent,
        creating_pid: parent,
        creating_tid: parent_tid,
        image_file_name: Some(image.to_owned()),
        command_line: Some(command_line.to_owned()),
        subsystem: false,
        file_open_name_available: true,
    };
    assert_eq!(create.fire(), STATUS_SUCCESS, "no deny policy configured");
    // Its first thread (Ex NonSystem: the routine runs on the new thread),
    // and a second one notified at APC_LEVEL.
    assert_eq!(
        trigger::thread_notify(child, child_tid, true, (parent, parent_tid), PASSIVE_LEVEL),
        1
    );
    assert_eq!(
        trigger::thread_notify(child, child_tid + 4, true, (parent, parent_tid), APC_LEVEL),
        1
    );
    // The child maps a user-mode image.
    let dll = "\\Device\\HarddiskVolume3\\Windows\\System32\\kernel32.dll";
    let mut load = trigger::LoadImage::new(dll, child);
    load.base = 0x7FFD_1000_0000;
    load.size = 0x000C_3000;
    load.signature_level = 0xC;
    load.signature_type = 1;
    assert_eq!(load.fire(), 1);
    // It opens, then duplicates, a handle to another process, and opens one
    // of that process's threads.
    let granted = HandleOperation::open_process(other, PROCESS_ALL_ACCESS, (child, child_tid)).fire();
    assert_eq!(granted, PROCESS_ALL_ACCESS);
    let granted =
        HandleOperation::duplicate_process(other, PROCESS_VM_READ, (child, child_tid), child, child).fire();
    assert_eq!(granted, PROCESS_VM_READ);
    let granted = HandleOperation::open_thread(other, other + 4, 0x0040, (child, child_tid)).fire();
    assert_eq!(granted, 0x0040);
    // It writes a registry value.
    let key = "\\Registry\\Machine\\Software\\KcbScenario";
    let data = "on\0"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect::<Vec<u8>>();
    let outcome = RegistryOperation {
        tid: Some(child_tid),
        ..RegistryOperation::new(
            child,
            key,
            KeyOperation::SetValue {
                name: "Mode".to_owned(),
                value_type: ntsim::registry::REG_SZ,
                data: data.clone(),
            },
        )
    }
    .fire();
    assert_eq!((outcome.status, outcome.post_notified), (STATUS_SUCCESS, true));
    assert_eq!(
        ntsim::registry::values(key),
        [("Mode".to_owned(), ntsim::registry::REG_SZ, data.clone())]
    );
    // Its thread exits, then the process, with an exit status.
    assert_eq!(
        trigger::thread_notify(child, child_tid, false, (child, child_tid), PASSIVE_LEVEL),
        1
    );
    let exit_status: NTSTATUS = 0xC000_013A_u32.cast_signed(); // STATUS_CONTROL_C_EXIT
    assert_eq!(trigger::process_exit_with_status(child, parent, exit_status), 1);

    let mut events = Events::new();
    events.until_counts(
        &mut kernel,
        "the scenario's records",
        child,
        &[
            (SourceId::ProcessCreate, 2),
            (SourceId::ThreadCreate, 3),
            (SourceId::LoadImage, 1),
            (SourceId::ObjectHandle, 6),
            (SourceId::Registry, 2),
        ],
    );
    let mine: Vec<EventRecord> = events
        .0
        .iter()
        .filter(|r| r.header.pid == child)
        .copied()
        .collect();
    // In the order they fired, with increasing sequence numbers and times.
    assert!(
        mine.windows(2)
            .all(|w| w[0].header.sequence < w[1].header.sequence)
    );
    assert!(
        mine.windows(2)
            .all(|w| w[0].header.timestamp <= w[1].header.timestamp)
    );
    let order: Vec<(Option<SourceId>, u16)> = mine.iter().map(|r| (r.source(), r.header.kind)).collect();
    assert_eq!(
        order,
        [
            (Some(SourceId::ProcessCreate), kind::CREATE),
            (Some(SourceId::ThreadCreate), kind::CREATE),
            (Some(SourceId::ThreadCreate), kind::CREATE),
            (Some(SourceId::LoadImage), kind::NONE),
            (Some(SourceId::ObjectHandle), kind::PRE),
            (Some(SourceId::ObjectHandle), kind::POST),
            (Some(SourceId::ObjectHandle), kind::PRE),
            (Some(SourceId::ObjectHandle), kind::POST),
            (Some(SourceId::ObjectHandle), kind::PRE),
            (Some(SourceId::ObjectHandle), kind::POST),
            (Some(SourceId::Registry), kind::PRE),
            (Some(SourceId::Registry), kind::POST),
            (Some(SourceId::ThreadCreate), kind::EXIT),
            (Some(SourceId::ProcessCreate), kind::EXIT),
        ]
    );
    for record in &mine {
        assert!(record.header.timestamp > 0 && record.header.cpu < ntsim::context::PROCESSOR_COUNT);
    }
    let mut next = mine.into_iter();
    // The next record, taken at `irql` in thread `tid` (if given).
    let mut take = |irql, tid: Option<u64>| {
        let record = next.next().expect("a record");
        assert_eq!(record.header.irql, irql);
        if let Some(tid) = tid {
            assert_eq!(record.header.tid, tid);
        }
        record
    };

    // Process create: PASSIVE_LEVEL, in the creating thread.
    let record = take(PASSIVE_LEVEL, Some(parent_tid));
    let p = *record.payload::<ProcessPayload>().expect("process payload");
    assert_eq!(
        (p.parent_pid, p.creating_pid, p.creating_tid),
        (parent, parent, parent_tid)
    );
    assert_eq!(p.flags, PROCESS_FLAG_FILE_OPEN_NAME_AVAILABLE);
    assert_eq!(
        (text(&p.image_name), text(&p.command_line)),
        (image.to_owned(), command_line.to_owned())
    );
    assert_eq!(p.exit_status, 0);

    // Thread create (Ex, NonSystem): on the new thread, so creator_* is the
    // new thread itself and neither remote nor creator-context is claimed.
    for (tid, irql) in [(child_tid, PASSIVE_LEVEL), (child_tid + 4, APC_LEVEL)] {
        let record = take(irql, Some(tid));
        let t = *record.payload::<ThreadPayload>().expect("thread payload");
        assert_eq!(
            (t.target_pid, t.target_tid, t.creator_pid, t.creator_tid, t.flags),
            (child, tid, child, tid, 0)
        );
    }

    // Image load: PASSIVE_LEVEL, in the process it maps into.
    let record = take(PASSIVE_LEVEL, None);
    let i = *record.payload::<ImageLoadPayload>().expect("image payload");
    assert_eq!(text(&i.name), dll);
    assert_eq!((i.image_base, i.image_size), (0x7FFD_1000_0000, 0x000C_3000));
    assert_eq!(i.properties, load.properties());
    assert_eq!(i.flags, IMAGE_FLAG_EXTENDED_INFO);
    assert_eq!((i.signature_level, i.signature_type), (0xC, 1));

    // Handle create and duplicate to the other process, then a thread handle.
    for (operation, object_type, target_tid, access) in [
        (OB_OPERATION_HANDLE_CREATE, OB_TYPE_PROCESS, 0, PROCESS_ALL_ACCESS),
        (OB_OPERATION_HANDLE_DUPLICATE, OB_TYPE_PROCESS, 0, PROCESS_VM_READ),
        (OB_OPERATION_HANDLE_CREATE, OB_TYPE_THREAD, other + 4, 0x0040),
    ] {
        let pre = take(PASSIVE_LEVEL, Some(child_tid));
        let post = take(PASSIVE_LEVEL, Some(child_tid));
        for record in [&pre, &post] {
            let o = record.payload::<ObjectHandlePayload>().expect("handle payload");
            assert_eq!((o.operation, o.object_type), (operation, object_type));
            assert_eq!(
                (o.target_pid, o.target_tid, o.source_pid, o.source_tid),
                (other, target_tid, child, child_tid)
            );
            assert_eq!((o.flags, o.stripped_access), (0, 0));
        }
        let o = *pre.payload::<ObjectHandlePayload>().expect("pre");
        assert_eq!(
            (
                o.desired_access,
                o.original_desired_access,
                o.granted_access,
                o.return_status
            ),
            (access, access, 0, 0)
        );
        let o = *post.payload::<ObjectHandlePayload>().expect("post");
        assert_eq!(
            (o.desired_access, o.granted_access, o.return_status),
            (0, access, STATUS_SUCCESS)
        );
    }

    // Registry: RegNtPreSetValueKey then RegNtPostSetValueKey, in the
    // caller's thread, the key path from CmCallbackGetKeyObjectIDEx.
    let pre = take(PASSIVE_LEVEL, Some(child_tid));
    let post = take(PASSIVE_LEVEL, Some(child_tid));
    let r = *pre.payload::<RegistryPayload>().expect("registry payload");
    assert_eq!(
        (r.notify_class, r.status, r.value_type),
        (1, 0, ntsim::registry::REG_SZ)
    );
    assert_eq!(r.data_size as usize, data.len());
    assert_eq!(
        (text(&r.key_path), text(&r.value_name)),
        (key.to_owned(), "Mode".to_owned())
    );
    let r = *post.payload::<RegistryPayload>().expect("registry payload");
    assert_eq!(
        (r.notify_class, r.status, r.value_type, r.data_size),
        (16, STATUS_SUCCESS, 0, 0)
    );
    assert_eq!(
        (text(&r.key_path), text(&r.value_name)),
        (key.to_owned(), String::new())
    );
    assert_eq!(ntsim::registry::unreleased_names(), 0, "every name released");

    // Thread exit: in the exiting thread.
    let record = take(PASSIVE_LEVEL, Some(child_tid));
    let t = *record.payload::<ThreadPayload>().expect("thread payload");
    assert_eq!((t.target_pid, t.target_tid, t.flags), (child, child_tid, 0));

    // Process exit: the exit status, nothing else.
    let record = take(PASSIVE_LEVEL, None);
    let p = *record.payload::<ProcessPayload>().expect("process payload");
    assert_eq!(p.exit_status, exit_status);
    assert_eq!(
        (p.parent_pid, p.creating_pid, p.creating_tid, p.flags),
        (0, 0, 0, 0)
    );
    assert!(p.image_name.is_empty() && p.command_line.is_empty());
    drop(next);

    // The contexts the model ran the routines in (kernel-semantics §2-§6).
    let process = invocations_of(process_routine);
    assert_eq!(process.len(), 2);
    assert!(
        process
            .iter()
            .all(|i| i.irql == PASSIVE_LEVEL && i.normal_apcs_disabled),
        "{process:?}"
    );
    assert_eq!(
        (process[0].pid, process[0].tid),
        (parent, parent_tid),
        "create: the creating thread"
    );
    assert_eq!(process[1].pid, child, "exit: the process's last thread");
    let image_calls = invocations_of(image_routine);
    assert_eq!(image_calls.len(), 1);
    assert!(
        image_calls[0].irql == PASSIVE_LEVEL
            && image_calls[0].normal_apcs_disabled
            && image_calls[0].pid == child
    );
    let thread_calls = invocations_of(thread_routine);
    assert_eq!(
        thread_calls
            .iter()
            .map(|i| (i.irql, i.pid, i.tid))
            .collect::<Vec<_>>(),
        [
            (PASSIVE_LEVEL, child, child_tid),
            (APC_LEVEL, child, child_tid + 4),
            (PASSIVE_LEVEL, child, child_tid)
        ]
    );
    let ob_calls: Vec<_> = ntsim::ps::invocations()
        .into_iter()
        .filter(|i| i.family == "object (handle) callback")
        .collect();
    assert_eq!(ob_calls.len(), 6);
    assert!(
        ob_calls
            .iter()
            .all(|i| i.irql == PASSIVE_LEVEL && i.normal_apcs_disabled)
    );
    let cm_calls = invocations_of(registry_routine);
    assert_eq!(cm_calls.len(), 2);
    assert!(
        cm_calls
            .iter()
            .all(|i| (i.irql, i.pid, i.tid) == (PASSIVE_LEVEL, child, child_tid))
    );

    unload_clean(&mut kernel);
}

#[test]
fn driver_images_load_in_the_system_process() {
    let mut kernel = loaded();
    let name = "\\SystemRoot\\System32\\drivers\\kcb-scenario.sys";
    let mut load = trigger::LoadImage::new(name, 0x1_1300);
    load.system_mode = true;
    assert_eq!(load.fire(), 1);
    let record = wait_for_image_event(&mut kernel, name);
    assert_eq!(record.header.pid, 0, "ProcessId is 0 for drivers");
    let i = *record.payload::<ImageLoadPayload>().expect("image payload");
    assert_eq!(i.flags, IMAGE_FLAG_SYSTEM_MODE | IMAGE_FLAG_EXTENDED_INFO);
    unload_clean(&mut kernel);
}
