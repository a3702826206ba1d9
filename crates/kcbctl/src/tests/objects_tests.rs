//! `kcbctl notify`, `flood` and `callbacks` (with `--registrations`).

use super::*;

#[test]
fn notify_sends_both_arguments() {
    let mut driver = FakeDriver::new().reply(Ioctl::Notify, Ok(vec![]));
    let (result, out, _) = run_cmd(&parse_args(&args("notify 0x1234 42")).unwrap(), &mut driver);
    result.unwrap();
    let request: NotifyRequest = decode_request(&driver.calls[0].1).unwrap();
    assert_eq!((request.argument1, request.argument2), (0x1234, 42));
    assert!(out.contains("argument1=0x1234, argument2=0x2a"), "{out}");
    assert!(out.contains("success, no data returned"));

    let mut driver = FakeDriver::new().reply(Ioctl::Notify, Ok(vec![1, 0xAB]));
    let (result, out, _) = run_cmd(
        &Command::Notify {
            argument1: 0,
            argument2: 0,
        },
        &mut driver,
    );
    result.unwrap();
    assert!(out.contains("2 bytes returned: 01ab"), "{out}");
}

#[test]
fn flood_prints_the_drivers_answer() {
    let response = FloodResponse {
        requested: 5000,
        recorded: 4096,
        dropped: 904,
        reserved: 0,
    };
    let mut reply = vec![0u8; 16];
    write_response(&mut reply, &response).unwrap();
    let mut driver = FakeDriver::new().reply(Ioctl::Flood, Ok(reply));
    let (result, out, err) = run_cmd(&Command::Flood { count: 5000 }, &mut driver);
    result.unwrap();
    assert_eq!(out, "flood: requested 5000, recorded 4096, dropped 904\n");
    assert!(err.is_empty());
    let request: FloodRequest = decode_request(&driver.calls[0].1).unwrap();
    assert_eq!(request.count, 5000);
}

#[test]
fn flood_refused_explains_the_switch() {
    let mut driver = FakeDriver::new().fail(Ioctl::Flood, crate::ERROR_INVALID_FUNCTION);
    let (result, out, _) = run_cmd(&Command::Flood { count: 1 }, &mut driver);
    assert!(out.is_empty());
    let e = result.unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("IOCTL_KCB_FLOOD failed: incorrect function"),
        "{text}"
    );
    assert!(
        text.contains("EnableFlood=1") && text.contains(crate::PARAMETERS_KEY),
        "{text}"
    );
    assert_eq!(e.exit_code(), 1);
}

#[test]
fn callbacks_prints_the_object_table() {
    let mut first = CallbackObjectEntry {
        index: 0,
        state: RegistrationState::Registered as u32,
        status: 0,
        reserved: 0,
        fired: 3,
        name: WStr::from_str_truncating(r"\Callback\SetSystemTime"),
        reserved2: [0; 2],
    };
    let mut second = first;
    second.index = 1;
    second.state = RegistrationState::Failed as u32;
    second.status = 0xC000_0034_u32.cast_signed();
    second.fired = 0;
    second.name = WStr::from_str_truncating("\\Callback\\Evil\u{1b}[2J");
    first.name.len = 500; // unvalidated length: clamped, never a panic
    let unobserved = CallbackObjectEntry {
        index: u32::MAX,
        state: 0,
        name: WStr::from_str_truncating(r"\Callback\PowerState"),
        ..second
    };
    let mut reply = vec![0u8; 16 + 3 * 160];
    let n = write_callback_objects(&mut reply, &[first, second, unobserved]).unwrap();
    reply.truncate(n);
    let mut driver = FakeDriver::new()
        .reply(Ioctl::ListCallbackObjects, Ok(reply))
        .fail(Ioctl::ListRegistrations, crate::ERROR_NOT_SUPPORTED);
    let (result, out, err) = run_cmd(&Command::Callbacks { registrations: true }, &mut driver);
    result.unwrap();
    let l = lines(&out);
    assert!(l[0].contains("object") && l[0].contains("observer"));
    assert!(
        l[1].contains(r"\Callback\SetSystemTime") && l[1].contains("attached") && l[1].ends_with(" 3"),
        "{}",
        l[1]
    );
    assert!(
        l[2].contains(r"\Callback\Evil\x1b[2J") && l[2].contains("failed") && l[2].contains("0xC0000034"),
        "{}",
        l[2]
    );
    assert_eq!(
        l[3].split_whitespace().collect::<Vec<_>>(),
        ["-", r"\Callback\PowerState", "-", "not-observed", "-", "0"]
    );
    assert!(!out.contains('\u{1b}'));
    assert!(err.contains("object table only"));
}

/// One `LIST_REGISTRATIONS` entry.
#[allow(
    clippy::too_many_arguments,
    reason = "one argument per field, as the entry shows them"
)]
fn registration(
    index: u32,
    object: &str,
    status: u32,
    detail: u32,
    multiple: u32,
    routine: u64,
    module: &str,
    offset: u64,
) -> kcb_proto::RegistrationEntry {
    kcb_proto::RegistrationEntry {
        object_index: index,
        status,
        detail,
        allow_multiple: multiple,
        routine,
        offset,
        module: kcb_proto::ascii_field(module),
        object: WStr::from_str_truncating(object),
        reserved: [0; 2],
    }
}

#[test]
fn callbacks_registrations_prints_object_multiple_and_module_offset() {
    use kcb_proto::{
        PROTOCOL_VERSION, REGISTRATION_BUFFER_SIZE, RegistrationListHeader, layout_check,
        registration_status, write_list,
    };
    let entry = registration;
    let entries = [
        entry(
            0,
            r"\Callback\KCallbacks",
            registration_status::IN_MODULE,
            0,
            1,
            0xFFFF_F800_1234_1A30,
            "kcallbacks.sys",
            0x1A30,
        ),
        entry(
            0,
            r"\Callback\KCallbacks",
            registration_status::NO_MODULE,
            0,
            1,
            0xFFFF_F800_5555_0000,
            "",
            0,
        ),
        entry(
            1,
            r"\Callback\PowerPort",
            registration_status::IN_MODULE,
            0,
            0,
            0xFFFF_F800_0A3C_5A10,
            "ntoskrnl.exe",
            0x3C_5A10,
        ),
        entry(
            2,
            r"\Callback\Odd",
            registration_status::LAYOUT_NOT_RECOGNISED,
            layout_check::LINK_MISMATCH,
            u32::MAX,
            0,
            "",
            0,
        ),
    ];
    let header = RegistrationListHeader {
        version: PROTOCOL_VERSION,
        count: 0,
        returned: 0,
        objects: 3,
    };
    let mut reply = vec![0u8; REGISTRATION_BUFFER_SIZE];
    let n = write_list(&mut reply, header, &entries).unwrap();
    reply.truncate(n);
    let mut objects = vec![0u8; 16];
    let n = write_callback_objects(&mut objects, &[]).unwrap();
    objects.truncate(n);
    let mut driver = FakeDriver::new()
        .reply(Ioctl::ListCallbackObjects, Ok(objects))
        .reply(Ioctl::ListRegistrations, Ok(reply));
    let (result, out, err) = run_cmd(&Command::Callbacks { registrations: true }, &mut driver);
    result.unwrap();
    assert!(err.is_empty(), "{err}");
    let words: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(
        words.contains(&vec![r"\Callback\KCallbacks", "yes", "kcallbacks.sys!0x1a30"]),
        "{out}"
    );
    assert!(
        words.contains(&vec!["0xfffff80055550000", "(in", "no", "loaded", "module)"]),
        "{out}"
    );
    assert!(
        words.contains(&vec![
            r"\Callback\PowerPort",
            "no",
            "[x]",
            "ntoskrnl.exe!0x3c5a10"
        ]),
        "{out}"
    );
    assert!(
        words.contains(&vec![
            r"\Callback\Odd",
            "?",
            "layout",
            "not",
            "recognised",
            "(list",
            "link",
            "mismatch)"
        ]),
        "{out}"
    );
    assert!(out.contains("3 objects walked"), "{out}");
}
