//! `IoConnectInterruptEx` through the driver's guard.

#[allow(clippy::wildcard_imports)]
use super::*;

// --- 8: IoConnectInterruptEx through the driver's guard --------------------------------

static ISR_CALLS: AtomicU32 = AtomicU32::new(0);
static ISR_IRQL: AtomicU32 = AtomicU32::new(0);
static ISR_OBJECT: AtomicUsize = AtomicUsize::new(0);
static ISR_STORED: AtomicUsize = AtomicUsize::new(usize::MAX);
static ISR_CONTEXT: AtomicU64 = AtomicU64::new(0);

/// The ISR: counts, and records its IRQL, arguments and what the driver's
/// interrupt-object variable held at that moment.
unsafe extern "C" fn test_isr(interrupt: PKINTERRUPT, context: *mut c_void) -> BOOLEAN {
    ISR_CALLS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the model's routine.
    ISR_IRQL.store(
        u32::from(unsafe { wdk_sys::ntddk::KeGetCurrentIrql() }),
        Ordering::SeqCst,
    );
    ISR_OBJECT.store(interrupt as usize, Ordering::SeqCst);
    ISR_CONTEXT.store(context as u64, Ordering::SeqCst);
    if !context.is_null() {
        // SAFETY: the context is the address of the test's PKINTERRUPT variable.
        ISR_STORED.store(
            unsafe { *context.cast::<PKINTERRUPT>() } as usize,
            Ordering::SeqCst,
        );
    }
    1
}

const unsafe extern "C" fn test_message_isr(_: PKINTERRUPT, _: *mut c_void, _: u32) -> BOOLEAN {
    1
}

fn reset_isr() {
    ISR_CALLS.store(0, Ordering::SeqCst);
    ISR_IRQL.store(0, Ordering::SeqCst);
    ISR_OBJECT.store(0, Ordering::SeqCst);
    ISR_STORED.store(usize::MAX, Ordering::SeqCst);
}

fn fully_specified(
    pdo: PDEVICE_OBJECT,
    storage: *mut PKINTERRUPT,
    vector: u32,
    irql: u8,
) -> IO_CONNECT_INTERRUPT_PARAMETERS {
    // SAFETY: plain data; all-zero is valid (NULL pointers, no routine).
    let mut parameters: IO_CONNECT_INTERRUPT_PARAMETERS = unsafe { std::mem::zeroed() };
    parameters.Version = CONNECT_FULLY_SPECIFIED;
    // SAFETY: writing the member this version uses.
    let p = unsafe { &mut parameters.__bindgen_anon_1.FullySpecified };
    p.PhysicalDeviceObject = pdo;
    p.InterruptObject = storage;
    p.ServiceRoutine = Some(test_isr);
    p.ServiceContext = storage.cast();
    p.SynchronizeIrql = irql;
    p.Vector = vector;
    p.Irql = irql;
    p.InterruptMode = wdk_sys::_KINTERRUPT_MODE::LevelSensitive;
    p.ProcessorEnableMask = 0xF;
    parameters
}

fn line_based(pdo: PDEVICE_OBJECT, storage: *mut PKINTERRUPT) -> IO_CONNECT_INTERRUPT_PARAMETERS {
    // SAFETY: as above.
    let mut parameters: IO_CONNECT_INTERRUPT_PARAMETERS = unsafe { std::mem::zeroed() };
    parameters.Version = CONNECT_LINE_BASED;
    // SAFETY: writing the member this version uses.
    let p = unsafe { &mut parameters.__bindgen_anon_1.LineBased };
    p.PhysicalDeviceObject = pdo;
    p.InterruptObject = storage;
    p.ServiceRoutine = Some(test_isr);
    p.ServiceContext = storage.cast();
    parameters
}

fn disconnects() -> usize {
    ntsim::ddi::call_count("IoDisconnectInterruptEx")
}

#[test]
fn interrupt_connection_guard_connects_and_disconnects_with_the_right_version_and_object() {
    let kernel = boot_with(&[]);
    let nic = ntsim::ioreg::interrupt_device(
        "NtsimNic0",
        &[
            InterruptLine {
                asserted: true,
                ..InterruptLine::new(0x51, 5)
            },
            InterruptLine::new(0x52, 6),
        ],
    );

    // Fully specified, on a line already asserted: the ISR runs before
    // IoConnectInterruptEx returns, at the line's DIRQL.
    reset_isr();
    let mut storage: Box<PKINTERRUPT> = Box::new(std::ptr::null_mut());
    let storage_ptr: *mut PKINTERRUPT = &raw mut *storage;
    // SAFETY: the ISR is 'static; `storage` outlives the guard.
    let guard = unsafe { InterruptConnection::connect(fully_specified(nic, storage_ptr, 0x51, 5)) }
        .expect("connects");
    assert_eq!(
        ISR_CALLS.load(Ordering::SeqCst),
        1,
        "the ISR ran before connect returned"
    );
    assert_eq!(
        ISR_STORED.load(Ordering::SeqCst),
        0,
        "... before the interrupt object was written back"
    );
    assert_eq!(ISR_IRQL.load(Ordering::SeqCst), 5);
    assert!(!storage.is_null());
    assert_eq!(ISR_OBJECT.load(Ordering::SeqCst), *storage as usize);
    assert_eq!(ISR_CONTEXT.load(Ordering::SeqCst), storage_ptr as u64);
    let connections = ntsim::ioreg::interrupt_connections();
    assert_eq!(connections.len(), 1);
    assert_eq!(
        (connections[0].object, connections[0].version),
        (*storage as usize, CONNECT_FULLY_SPECIFIED)
    );
    assert_eq!(connections[0].vectors, [0x51]);
    // A later interrupt on that vector.
    assert_eq!(trigger::interrupt(nic, 0x51), Some(true));
    assert_eq!(ISR_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(trigger::interrupt(nic, 0x52), None, "not connected");
    let before = disconnects();
    drop(guard);
    assert_eq!(disconnects(), before + 1);
    assert!(ntsim::ioreg::interrupt_connections().is_empty());
    assert_eq!(trigger::interrupt(nic, 0x51), None);
    kernel.assert_no_bugchecks();

    // Line based: every line of the device, one ISR, at the highest DIRQL.
    reset_isr();
    let mut storage: Box<PKINTERRUPT> = Box::new(std::ptr::null_mut());
    // SAFETY: as above.
    let guard =
        unsafe { InterruptConnection::connect(line_based(nic, &raw mut *storage)) }.expect("connects");
    let connections = ntsim::ioreg::interrupt_connections();
    assert_eq!(
        (connections[0].version, connections[0].vectors.clone()),
        (CONNECT_LINE_BASED, vec![0x51, 0x52])
    );
    assert_eq!(ISR_CALLS.load(Ordering::SeqCst), 1, "line 0x51 is asserted");
    assert_eq!(trigger::interrupt(nic, 0x52), Some(true));
    assert_eq!(ISR_IRQL.load(Ordering::SeqCst), 6);
    drop(guard);
    assert!(ntsim::ioreg::interrupt_connections().is_empty());
    kernel.assert_no_bugchecks();

    // Message based on a device without MSI: the fallback ISR is connected
    // line-based, Version comes back CONNECT_LINE_BASED, and the guard
    // disconnects with that version and the object in ConnectionContext.
    let mut storage: Box<PKINTERRUPT> = Box::new(std::ptr::null_mut());
    // SAFETY: plain data; all-zero is valid.
    let mut parameters: IO_CONNECT_INTERRUPT_PARAMETERS = unsafe { std::mem::zeroed() };
    parameters.Version = CONNECT_MESSAGE_BASED;
    // SAFETY: writing the member this version uses.
    let p = unsafe { &mut parameters.__bindgen_anon_1.MessageBased };
    p.PhysicalDeviceObject = nic;
    p.ConnectionContext.InterruptObject = &raw mut *storage;
    p.MessageServiceRoutine = Some(test_message_isr);
    p.FallBackServiceRoutine = Some(test_isr);
    // SAFETY: as above.
    let guard = unsafe { InterruptConnection::connect(parameters) }.expect("falls back");
    let connections = ntsim::ioreg::interrupt_connections();
    assert_eq!(
        (connections[0].version, connections[0].object),
        (CONNECT_LINE_BASED, *storage as usize)
    );
    drop(guard);
    assert!(ntsim::ioreg::interrupt_connections().is_empty());
    kernel.assert_no_bugchecks();

    // Failures: no guard, nothing connected.
    let quiet = ntsim::ioreg::interrupt_device("NtsimQuiet0", &[]);
    let mut storage: Box<PKINTERRUPT> = Box::new(std::ptr::null_mut());
    let storage_ptr: *mut PKINTERRUPT = &raw mut *storage;
    let mut bad_version = fully_specified(nic, storage_ptr, 0x51, 5);
    bad_version.Version = 9;
    let mut no_cpu = fully_specified(nic, storage_ptr, 0x51, 5);
    // Writing a union field is safe; the member this version uses.
    no_cpu.__bindgen_anon_1.FullySpecified.ProcessorEnableMask = 0;
    let failures: [(&str, IO_CONNECT_INTERRUPT_PARAMETERS, NTSTATUS); 5] = [
        ("unknown version", bad_version, STATUS_INVALID_PARAMETER_1),
        (
            "NULL PDO",
            fully_specified(std::ptr::null_mut(), storage_ptr, 0x51, 5),
            STATUS_INVALID_PARAMETER,
        ),
        (
            "vector not assigned",
            fully_specified(nic, storage_ptr, 0x77, 5),
            STATUS_NOT_FOUND,
        ),
        ("no processor", no_cpu, STATUS_INVALID_PARAMETER_10),
        (
            "device without interrupts",
            line_based(quiet, storage_ptr),
            STATUS_NOT_FOUND,
        ),
    ];
    for (what, parameters, status) in failures {
        // SAFETY: as above.
        let result = unsafe { InterruptConnection::connect(parameters) };
        assert_eq!(result.err(), Some(status), "{what}");
    }
    faults::fail_nth_on_this_thread("IoConnectInterruptEx", 1, STATUS_INSUFFICIENT_RESOURCES);
    // SAFETY: as above.
    let result = unsafe { InterruptConnection::connect(line_based(nic, storage_ptr)) };
    assert_eq!(result.err(), Some(STATUS_INSUFFICIENT_RESOURCES));
    assert!(ntsim::ioreg::interrupt_connections().is_empty());
    assert!(storage.is_null());
    kernel.assert_no_bugchecks();

    // The model's checks on a disconnect: the wrong version, and an object
    // it never connected.
    // SAFETY: as above.
    let guard = unsafe { InterruptConnection::connect(line_based(nic, storage_ptr)) }.expect("connects");
    let mut wrong = IO_DISCONNECT_INTERRUPT_PARAMETERS {
        Version: CONNECT_FULLY_SPECIFIED,
        ..Default::default()
    };
    wrong.ConnectionContext.Generic = (*storage).cast();
    // SAFETY: the model's routine; the wrong version is the violation under test.
    unsafe { ntsim::ioreg::IoDisconnectInterruptEx(&raw mut wrong) };
    kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::InvalidParameter as u64);
    assert_eq!(ntsim::ioreg::interrupt_connections().len(), 1, "still connected");
    drop(guard);
    // SAFETY: as above; now unknown.
    unsafe { ntsim::ioreg::IoDisconnectInterruptEx(&raw mut wrong) };
    kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::UnknownObject as u64);
    kernel.assert_no_bugchecks();
}

#[test]
fn a_leaked_interrupt_connection_is_caught_at_unload() {
    let mut kernel = loaded_with(&[]);
    let nic = ntsim::ioreg::interrupt_device("NtsimNic1", &[InterruptLine::new(0x61, 7)]);
    let storage: &'static mut PKINTERRUPT = Box::leak(Box::new(std::ptr::null_mut()));
    // SAFETY: 'static ISR and storage.
    let guard = unsafe { InterruptConnection::connect(line_based(nic, storage)) }.expect("connects");
    std::mem::forget(guard);
    kernel.unload_driver();
    let check = kernel.expect_bugcheck(CE, test_isr as *const () as u64);
    assert!(check.text.contains("still connected"), "{check}");
    kernel.assert_no_bugchecks();
}
