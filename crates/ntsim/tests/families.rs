//! The callback families beyond process/image notify: registry, object
//! manager, I/O manager, Ke, power, WHEA, HAL, and the registry and object
//! directory readers, each against its documented rules.

use std::ffi::c_void;
use std::sync::Mutex;

use ntsim::irql::{DISPATCH_LEVEL, HIGH_LEVEL, PASSIVE_LEVEL, with_irql};
use ntsim::unicode::OwnedUnicode;
use ntsim::verifier::{ModelRule, codes};
use ntsim::{Kernel, registry, trigger};
use wdk_sys::ntddk::*;
use wdk_sys::*;

mod common;

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log(entry: String) {
    LOG.lock().unwrap().push(entry);
}

fn take_log() -> Vec<String> {
    std::mem::take(&mut *LOG.lock().unwrap())
}

fn attributes(name: &mut OwnedUnicode) -> OBJECT_ATTRIBUTES {
    OBJECT_ATTRIBUTES {
        Length: 48,
        ObjectName: name.as_ptr(),
        Attributes: OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE,
        ..Default::default()
    }
}

// --- Registry reading ------------------------------------------------------------

/// `ZwOpenKey` on `name`, returning the status and the handle.
fn open_key(name: &mut OwnedUnicode) -> (NTSTATUS, HANDLE) {
    let mut attrs = attributes(name);
    let mut key: HANDLE = std::ptr::null_mut();
    // SAFETY: valid out pointer and attributes naming a live string.
    let status = unsafe { ZwOpenKey(&raw mut key, KEY_READ, &raw mut attrs) };
    (status, key)
}

/// `ZwEnumerateValueKey` into `buffer`, claiming `length` (<= its size) bytes.
fn enumerate_value(
    key: HANDLE,
    index: u32,
    class: KEY_VALUE_INFORMATION_CLASS,
    buffer: &mut [u64; 16],
    length: u32,
    returned: &mut u32,
) -> NTSTATUS {
    assert!(length as usize <= std::mem::size_of_val(buffer));
    // SAFETY: the buffer is writable for `length` bytes; `returned` is writable.
    unsafe { ZwEnumerateValueKey(key, index, class, buffer.as_mut_ptr().cast(), length, returned) }
}

#[test]
fn registry_open_and_enumerate_follow_the_documented_statuses() {
    let kernel = Kernel::boot();
    let path = "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\ntsimtest\\Parameters";
    registry::set_dword(path, "Enabled", 1);
    registry::set_string(path, "Name", "abc");
    let mut missing = OwnedUnicode::new("\\Registry\\Machine\\Nope");
    let mut name = OwnedUnicode::new(&path.to_uppercase());
    assert_eq!(open_key(&mut missing).0, STATUS_OBJECT_NAME_NOT_FOUND);
    let (status, key) = open_key(&mut name);
    assert_eq!(status, STATUS_SUCCESS, "case-insensitive");
    let mut buffer = [0u64; 16];
    let mut returned = 0u32;
    let full = _KEY_VALUE_INFORMATION_CLASS::KeyValueFullInformation;
    assert_eq!(
        enumerate_value(key, 0, full, &mut buffer, 8, &mut returned),
        STATUS_BUFFER_TOO_SMALL
    );
    assert_eq!(returned, 20 + 14 + 4, "header + \"Enabled\" + a DWORD");
    assert_eq!(
        enumerate_value(key, 0, full, &mut buffer, 24, &mut returned),
        STATUS_BUFFER_OVERFLOW
    );
    assert_eq!(
        enumerate_value(key, 0, full, &mut buffer, 128, &mut returned),
        STATUS_SUCCESS
    );
    // SAFETY: the model wrote a KEY_VALUE_FULL_INFORMATION at the (8-aligned) start.
    let info = unsafe { &*buffer.as_ptr().cast::<KEY_VALUE_FULL_INFORMATION>() };
    assert_eq!(
        (info.Type, info.DataLength, info.NameLength, info.DataOffset),
        (4, 4, 14, 34)
    );
    let data = buffer
        .as_ptr()
        .cast::<u8>()
        .wrapping_add(info.DataOffset as usize)
        .cast::<u32>();
    // SAFETY: DataOffset + DataLength lies inside the returned bytes.
    assert_eq!(unsafe { data.read_unaligned() }, 1);
    assert_eq!(
        enumerate_value(key, 2, full, &mut buffer, 128, &mut returned),
        STATUS_NO_MORE_ENTRIES
    );
    assert_eq!(
        enumerate_value(key, 0, 99, &mut buffer, 128, &mut returned),
        STATUS_INVALID_PARAMETER
    );
    let mut value = OwnedUnicode::new("name");
    let partial = _KEY_VALUE_INFORMATION_CLASS::KeyValuePartialInformation;
    // SAFETY: a live value name and a writable 128-byte buffer.
    let status = unsafe {
        ZwQueryValueKey(
            key,
            value.as_ptr(),
            partial,
            buffer.as_mut_ptr().cast(),
            128,
            &raw mut returned,
        )
    };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(returned, 12 + 8, "\"abc\" and its NUL in UTF-16");
    // SAFETY: the handle opened above.
    assert_eq!(unsafe { ZwClose(key) }, STATUS_SUCCESS);
    let _ = with_irql(DISPATCH_LEVEL, || open_key(&mut name));
    kernel.expect_bugcheck(codes::DRIVER_VERIFIER_DETECTED_VIOLATION, 0x2_001F);
}

// --- Registry callbacks ---------------------------------------------------------------

unsafe extern "C" fn registry_callback(context: PVOID, class: PVOID, information: PVOID) -> NTSTATUS {
    let tag = context as usize;
    log(format!("{tag}:{}", class as usize));
    if tag == 3 && class as usize == 1 {
        // SAFETY: RegNtPreSetValueKey information.
        let info = unsafe { &*information.cast::<REG_SET_VALUE_KEY_INFORMATION>() };
        if info.Type == registry::REG_BINARY {
            return STATUS_ACCESS_DENIED;
        }
    }
    STATUS_SUCCESS
}

#[test]
fn registry_callbacks_order_block_and_unregister() {
    let kernel = Kernel::boot();
    take_log();
    let mut cookies = [LARGE_INTEGER::default(); 4];
    let mut high = OwnedUnicode::new("380000");
    let mut low = OwnedUnicode::new("320000");
    let register = |altitude: &mut OwnedUnicode, context: usize, cookie: &mut LARGE_INTEGER| {
        // SAFETY: a live altitude string, a 'static routine and a writable cookie.
        unsafe {
            CmRegisterCallbackEx(
                Some(registry_callback),
                altitude.as_ptr(),
                std::ptr::null_mut(),
                context as PVOID,
                cookie,
                std::ptr::null_mut(),
            )
        }
    };
    let [first, second, third, fourth] = &mut cookies;
    assert_eq!(register(&mut high, 3, first), STATUS_SUCCESS);
    assert_eq!(register(&mut low, 4, second), STATUS_SUCCESS);
    assert_eq!(
        register(&mut high, 5, third),
        STATUS_FLT_INSTANCE_ALTITUDE_COLLISION
    );
    // SAFETY: a 'static routine and a writable cookie.
    let status = unsafe { CmRegisterCallback(Some(registry_callback), 1 as PVOID, fourth) };
    assert_eq!(status, STATUS_SUCCESS);
    let key = "\\Registry\\Machine\\Software\\Ntsim";
    assert_eq!(
        trigger::registry_set_value(7, key, "A", registry::REG_DWORD, &[1, 0, 0, 0]),
        STATUS_SUCCESS
    );
    assert_eq!(
        take_log(),
        ["1:1", "3:1", "4:1", "1:16", "3:16", "4:16"],
        "legacy first, then highest altitude"
    );
    assert_eq!(
        trigger::registry_set_value(7, key, "B", registry::REG_BINARY, &[1]),
        STATUS_ACCESS_DENIED
    );
    assert_eq!(
        take_log(),
        ["1:1", "3:1"],
        "a blocking pre callback stops lower callbacks and the post notification"
    );
    assert_eq!(
        registry::values(key).len(),
        1,
        "the blocked value was not written"
    );
    for cookie in [cookies[0], cookies[1], cookies[3]] {
        // SAFETY: unregistering what was registered.
        assert_eq!(unsafe { CmUnRegisterCallback(cookie) }, STATUS_SUCCESS);
    }
    // SAFETY: an already removed cookie; the model reports it.
    let status = unsafe { CmUnRegisterCallback(cookies[0]) };
    assert_eq!(status, STATUS_INVALID_PARAMETER);
    kernel.assert_no_bugchecks();
}

// --- Object callbacks ------------------------------------------------------------------

unsafe extern "C" fn strip_terminate(
    _context: PVOID,
    info: POB_PRE_OPERATION_INFORMATION,
) -> OB_PREOP_CALLBACK_STATUS {
    // SAFETY: the model's live information of a create operation.
    *unsafe { common::create_desired_access(info) } &= !0x0001;
    _OB_PREOP_CALLBACK_STATUS::OB_PREOP_SUCCESS
}

unsafe extern "C" fn add_access(
    _context: PVOID,
    info: POB_PRE_OPERATION_INFORMATION,
) -> OB_PREOP_CALLBACK_STATUS {
    // SAFETY: the model's live information of a create operation.
    *unsafe { common::create_desired_access(info) } |= 0x0400;
    _OB_PREOP_CALLBACK_STATUS::OB_PREOP_SUCCESS
}

unsafe extern "C" fn post_granted(_context: PVOID, info: POB_POST_OPERATION_INFORMATION) {
    // SAFETY: a live post-operation information block.
    let info = unsafe { &*info };
    // SAFETY: its parameters are live for the call.
    let parameters = unsafe { &*info.Parameters };
    // SAFETY: a create operation uses the CreateHandleInformation member.
    let granted = unsafe { parameters.CreateHandleInformation.GrantedAccess };
    log(format!("granted {granted:#x}"));
}

const fn ob_registration(
    altitude: &mut OwnedUnicode,
    operation: &mut OB_OPERATION_REGISTRATION,
) -> OB_CALLBACK_REGISTRATION {
    OB_CALLBACK_REGISTRATION {
        Version: OB_FLT_REGISTRATION_VERSION as u16,
        OperationRegistrationCount: 1,
        Altitude: altitude.descriptor(),
        RegistrationContext: std::ptr::null_mut(),
        OperationRegistration: operation,
    }
}

#[test]
fn object_callbacks_may_only_remove_modifiable_access() {
    let kernel = Kernel::boot();
    take_log();
    let process_type = (&raw const ntsim::thread::PsProcessType)
        .cast_mut()
        .cast::<POBJECT_TYPE>();
    let mut operation = OB_OPERATION_REGISTRATION {
        ObjectType: process_type,
        Operations: 1,
        PreOperation: Some(strip_terminate),
        PostOperation: Some(post_granted),
    };
    let mut altitude = OwnedUnicode::new("321000");
    let mut registration = ob_registration(&mut altitude, &mut operation);
    let mut handle: PVOID = std::ptr::null_mut();
    let mut second: PVOID = std::ptr::null_mut();
    let register = |registration: &mut OB_CALLBACK_REGISTRATION, handle: &mut PVOID| {
        // SAFETY: a registration whose strings and operations are live.
        unsafe { ObRegisterCallbacks(registration, handle) }
    };
    registration.Version = 0x0200;
    assert_eq!(
        register(&mut registration, &mut handle),
        STATUS_INVALID_PARAMETER,
        "bad version"
    );
    registration.Version = OB_FLT_REGISTRATION_VERSION as u16;
    assert_eq!(register(&mut registration, &mut handle), STATUS_SUCCESS);
    assert_eq!(
        register(&mut registration, &mut second),
        STATUS_FLT_INSTANCE_ALTITUDE_COLLISION
    );
    let granted = trigger::HandleOperation::open_process(0x44, 0x1F_FFFF, (0x40, 0x48)).fire();
    assert_eq!(granted, 0x1F_FFFE, "PROCESS_TERMINATE stripped");
    assert_eq!(take_log(), ["granted 0x1ffffe"]);
    let mut bad = OB_OPERATION_REGISTRATION {
        PreOperation: Some(add_access),
        PostOperation: None,
        ..operation
    };
    let mut bad_altitude = OwnedUnicode::new("322000");
    let mut bad_registration = ob_registration(&mut bad_altitude, &mut bad);
    assert_eq!(register(&mut bad_registration, &mut second), STATUS_SUCCESS);
    let granted = trigger::HandleOperation::open_process(0x44, 0x1000, (0x40, 0x48)).fire();
    assert_eq!(granted, 0x1000, "adding access is undone");
    kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::InvalidParameter as u64);
    for registered in [handle, second, handle] {
        // SAFETY: unregistering what was registered; the repeat is the violation under test.
        unsafe { ObUnRegisterCallbacks(registered) };
    }
    kernel.expect_bugcheck(codes::NTSIM_RULE, ModelRule::DoubleRelease as u64);
    take_log();
}

// --- I/O manager registrations -----------------------------------------------------------

unsafe extern "C" fn on_fs(device: PDEVICE_OBJECT, active: BOOLEAN) {
    // SAFETY: a live file-system device object.
    let kind = unsafe { (*device).DeviceType };
    log(format!("fs {kind} {active}"));
}

unsafe extern "C" fn on_interface(notification: PVOID, _context: PVOID) -> NTSTATUS {
    // SAFETY: an interface notification.
    let n = unsafe { &*notification.cast::<DEVICE_INTERFACE_CHANGE_NOTIFICATION>() };
    // SAFETY: its link name is a live UNICODE_STRING.
    let name = unsafe { &*n.SymbolicLinkName };
    // SAFETY: `Length` bytes of the buffer are readable.
    let units = unsafe { std::slice::from_raw_parts(name.Buffer, usize::from(name.Length / 2)) };
    let link = String::from_utf16_lossy(units);
    log(format!("interface {link}"));
    STATUS_SUCCESS
}

unsafe extern "C" fn complete_shutdown(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: a live IRP owned by this routine until completed.
    let packet = unsafe { &mut *irp };
    // SAFETY: a queued IRP uses the Overlay member of its tail.
    let overlay = unsafe { &packet.Tail.Overlay };
    // SAFETY: the current-stack-location member of the overlay.
    let stack = unsafe { overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation };
    // SAFETY: the current stack location is live while the IRP is.
    log(format!("irp {}", unsafe { (*stack).MajorFunction }));
    packet.IoStatus.__bindgen_anon_1.Status = STATUS_SUCCESS;
    // SAFETY: completing the IRP this routine owns.
    unsafe { IofCompleteRequest(irp, 0) };
    STATUS_SUCCESS
}

unsafe extern "C" fn reinit(_driver: PDRIVER_OBJECT, context: PVOID, count: ULONG) {
    log(format!("reinit {} {count}", context as usize));
    if count < 2 {
        // SAFETY: re-registering from the routine is documented.
        unsafe { IoRegisterDriverReinitialization(_driver, Some(reinit), context) };
    }
}

unsafe extern "C" fn io_entry(driver: *mut DRIVER_OBJECT, _path: *const UNICODE_STRING) -> NTSTATUS {
    let mut device: PDEVICE_OBJECT = std::ptr::null_mut();
    // SAFETY: the driver object the model passes to DriverEntry.
    let object = unsafe { &mut *driver };
    object.DriverUnload = Some(io_unload);
    object.MajorFunction[IRP_MJ_SHUTDOWN as usize] = Some(complete_shutdown);
    // SAFETY: a live driver object and a writable out pointer.
    let status = unsafe { IoCreateDevice(driver, 0, std::ptr::null_mut(), 0x22, 0, 0, &raw mut device) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: the device created above.
    let status = unsafe { IoRegisterShutdownNotification(device) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: as above.
    let status = unsafe { IoRegisterLastChanceShutdownNotification(device) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: a live driver object and a 'static routine.
    let status = unsafe { IoRegisterFsRegistrationChange(driver, Some(on_fs)) };
    assert_eq!(status, STATUS_SUCCESS);
    // SAFETY: as above.
    let status = unsafe { IoRegisterFsRegistrationChange(driver, Some(on_fs)) };
    assert_eq!(status, STATUS_DEVICE_ALREADY_ATTACHED);
    // SAFETY: as above.
    unsafe { IoRegisterDriverReinitialization(driver, Some(reinit), 9 as PVOID) };
    STATUS_SUCCESS
}

unsafe extern "C" fn io_unload(driver: *mut DRIVER_OBJECT) {
    // SAFETY: the registration made in io_entry.
    unsafe { IoUnregisterFsRegistrationChange(driver, Some(on_fs)) };
    // SAFETY: the driver object being unloaded.
    let device = unsafe { (*driver).DeviceObject };
    // SAFETY: the device registered in io_entry.
    unsafe { IoUnregisterShutdownNotification(device) };
    // SAFETY: the driver's device, no longer used.
    unsafe { IoDeleteDevice(device) };
}

#[test]
fn io_registrations_replay_notify_and_reinitialize() {
    let mut kernel = Kernel::boot().with_driver("iotest", io_entry);
    take_log();
    assert_eq!(kernel.load_driver(), STATUS_SUCCESS);
    assert_eq!(
        take_log(),
        ["fs 8 1", "reinit 9 1", "reinit 9 2"],
        "file systems replayed; reinitialization after DriverEntry"
    );
    assert_eq!(trigger::shutdown(), [STATUS_SUCCESS, STATUS_SUCCESS]);
    assert_eq!(
        take_log(),
        ["irp 16", "irp 16"],
        "one IRP_MJ_SHUTDOWN per registration"
    );
    let class = GUID {
        Data1: 1,
        Data2: 2,
        Data3: 3,
        Data4: [4; 8],
    };
    ntsim::ioreg::add_device_interface(class, "\\??\\existing");
    let mut entry: PVOID = std::ptr::null_mut();
    let mut class_copy = class;
    // SAFETY: valid arguments.
    unsafe {
        let status = IoRegisterPlugPlayNotification(
            _IO_NOTIFICATION_EVENT_CATEGORY::EventCategoryDeviceInterfaceChange,
            PNPNOTIFY_DEVICE_INTERFACE_INCLUDE_EXISTING_INTERFACES,
            (&raw mut class_copy).cast(),
            kernel.driver_object(),
            Some(on_interface),
            std::ptr::null_mut(),
            &raw mut entry,
        );
        assert_eq!(status, STATUS_SUCCESS);
    }
    assert_eq!(
        take_log(),
        ["interface \\??\\existing"],
        "existing interfaces reported before the call returns"
    );
    assert_eq!(trigger::device_interface_arrival(class, "\\??\\new"), 1);
    // SAFETY: the entry registered above.
    let status = unsafe { IoUnregisterPlugPlayNotificationEx(entry) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(trigger::device_interface_arrival(class, "\\??\\later"), 0);
    kernel.unload_driver();
    assert!(ntsim::ioreg::shutdown_registrations().is_empty());
    kernel.assert_no_bugchecks();
    take_log();
}

// --- Ke callbacks ---------------------------------------------------------------------

struct RecordCell(std::cell::UnsafeCell<KBUGCHECK_CALLBACK_RECORD>);
// SAFETY: only the model touches the record while registered.
unsafe impl Sync for RecordCell {}
// SAFETY: all-zero is KeInitializeCallbackRecord's result (State = BufferEmpty).
static RECORD: RecordCell = RecordCell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));

struct ReasonCell(std::cell::UnsafeCell<KBUGCHECK_REASON_CALLBACK_RECORD>);
// SAFETY: as above.
unsafe impl Sync for ReasonCell {}
// SAFETY: as above.
static REASON: ReasonCell = ReasonCell(std::cell::UnsafeCell::new(unsafe { std::mem::zeroed() }));

unsafe extern "C" fn on_bug_check(buffer: PVOID, length: ULONG) {
    // SAFETY: the model's routine.
    let irql = unsafe { KeGetCurrentIrql() };
    log(format!("bugcheck {} {length} at {irql}", buffer as usize));
}

unsafe extern "C" fn on_reason(
    _reason: KBUGCHECK_CALLBACK_REASON,
    _record: *mut KBUGCHECK_REASON_CALLBACK_RECORD,
    data: PVOID,
    _length: ULONG,
) {
    // SAFETY: secondary dump data for this reason.
    let dump = unsafe { &mut *data.cast::<KBUGCHECK_SECONDARY_DUMP_DATA>() };
    dump.Guid = GUID {
        Data1: 0xABCD,
        ..Default::default()
    };
    if dump.OutBuffer.is_null() {
        dump.OutBufferLength = 4;
    } else {
        // SAFETY: OutBuffer == InBuffer, at least 4 bytes.
        unsafe { dump.OutBuffer.cast::<u32>().write_unaligned(0xFEED_F00D) };
    }
}

unsafe extern "C" fn nmi_first(_context: PVOID, handled: BOOLEAN) -> BOOLEAN {
    log(format!("nmi first {handled}"));
    0
}

unsafe extern "C" fn nmi_second(_context: PVOID, handled: BOOLEAN) -> BOOLEAN {
    log(format!("nmi second {handled}"));
    1
}

unsafe extern "C" fn on_processor(
    _context: PVOID,
    change: PKE_PROCESSOR_CHANGE_NOTIFY_CONTEXT,
    status: PNTSTATUS,
) {
    // SAFETY: valid for the call.
    let change = unsafe { &*change };
    log(format!("cpu {} state {}", change.NtNumber, change.State));
    if change.NtNumber == 2 && change.State == 0 {
        // SAFETY: writable for the call.
        unsafe { *status = STATUS_INSUFFICIENT_RESOURCES };
    }
}

#[test]
fn ke_callbacks_follow_the_documented_order_and_states() {
    let kernel = Kernel::boot();
    take_log();
    let record = RECORD.0.get();
    let reason = REASON.0.get();
    let register = |component: *const std::ffi::c_char| {
        // SAFETY: a resident record and a 'static routine.
        unsafe {
            KeRegisterBugCheckCallback(
                record,
                Some(on_bug_check),
                77 as PVOID,
                5,
                component.cast_mut().cast(),
            )
        }
    };
    assert_eq!(register(c"ntsim".as_ptr()), 1);
    assert_eq!(register(std::ptr::null()), 0, "already registered");
    // SAFETY: a resident record and a 'static routine.
    let registered = unsafe {
        KeRegisterBugCheckReasonCallback(
            reason,
            Some(on_reason),
            _KBUGCHECK_CALLBACK_REASON::KbCallbackSecondaryDumpData,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(registered, 1);
    let dumps = trigger::bug_check(0xE2);
    assert_eq!(
        take_log(),
        ["bugcheck 77 5 at 15"],
        "HIGH_LEVEL, with the registered buffer"
    );
    assert_eq!(dumps.len(), 1);
    assert_eq!(
        (dumps[0].guid.Data1, dumps[0].data.clone()),
        (0xABCD, 0xFEED_F00Du32.to_le_bytes().to_vec())
    );
    // SAFETY: the record is resident; the model is done with it.
    assert_eq!(unsafe { (*record).State }, 3, "BufferFinished");
    let deregister = || {
        // SAFETY: a resident record.
        unsafe { KeDeregisterBugCheckCallback(record) }
    };
    assert_eq!(deregister(), 1);
    assert_eq!(deregister(), 0);
    // SAFETY: a resident record.
    assert_eq!(unsafe { KeDeregisterBugCheckReasonCallback(reason) }, 1);
    let register_nmi = |routine: PNMI_CALLBACK| {
        // SAFETY: a 'static routine.
        unsafe { KeRegisterNmiCallback(routine, std::ptr::null_mut()) }
    };
    let deregister_nmi = |handle: PVOID| {
        // SAFETY: the model validates the handle.
        unsafe { KeDeregisterNmiCallback(handle) }
    };
    let first = register_nmi(Some(nmi_first));
    let second = register_nmi(Some(nmi_second));
    assert!(trigger::nmi());
    assert_eq!(
        take_log(),
        ["nmi second 0", "nmi first 1"],
        "LIFO; later callbacks see Handled"
    );
    assert_eq!(deregister_nmi(first), STATUS_SUCCESS);
    assert_eq!(deregister_nmi(first), STATUS_INVALID_HANDLE);
    assert_eq!(deregister_nmi(second), STATUS_SUCCESS);
    // SAFETY: a 'static routine.
    let handle = unsafe {
        KeRegisterProcessorChangeCallback(
            Some(on_processor),
            std::ptr::null_mut(),
            KE_PROCESSOR_CHANGE_ADD_EXISTING,
        )
    };
    assert!(!handle.is_null());
    assert_eq!(
        take_log(),
        [
            "cpu 0 state 0",
            "cpu 1 state 0",
            "cpu 2 state 0",
            "cpu 0 state 2",
            "cpu 1 state 2"
        ],
        "StartNotify until the failure, then FailureNotify to the started ones except the failing one"
    );
    // SAFETY: the handle registered above.
    unsafe { KeDeregisterProcessorChangeCallback(handle) };
    let _ = with_irql(DISPATCH_LEVEL, || register_nmi(Some(nmi_first)));
    kernel.expect_bugcheck(codes::DRIVER_VERIFIER_DETECTED_VIOLATION, 0x2_0010);
    take_log();
}

// --- Power, WHEA, HAL ----------------------------------------------------------------------

unsafe extern "C" fn on_setting(_guid: LPCGUID, value: PVOID, length: ULONG, _context: PVOID) -> NTSTATUS {
    // SAFETY: a value of `length` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(value.cast::<u8>(), length as usize) };
    log(format!("setting {bytes:?}"));
    STATUS_SUCCESS
}

unsafe extern "C" fn on_page(page: ULONG, flags: BOOLEAN, poisoned: BOOLEAN, context: PVOID) -> BOOLEAN {
    log(format!(
        "page {page:#x} flags {flags:#x} {poisoned} context {context:p}"
    ));
    1
}

unsafe extern "C" fn on_profile(_frame: PVOID) {
    // SAFETY: the model's routine.
    let irql = unsafe { KeGetCurrentIrql() };
    log(format!("profile at {irql}"));
}

#[test]
fn power_whea_and_hal() {
    let kernel = Kernel::boot();
    take_log();
    let mut handle: PVOID = std::ptr::null_mut();
    let lid = ntsim::power::GUID_LIDSWITCH_STATE_CHANGE;
    // SAFETY: valid arguments, 'static routines.
    unsafe {
        assert_eq!(
            PoRegisterPowerSettingCallback(
                std::ptr::null_mut(),
                &raw const lid,
                Some(on_setting),
                std::ptr::null_mut(),
                &raw mut handle
            ),
            STATUS_SUCCESS
        );
    }
    assert_eq!(
        take_log(),
        ["setting [1, 0, 0, 0]"],
        "the current value is delivered at registration"
    );
    assert_eq!(trigger::power_setting_change(lid, &[0, 0, 0, 0]), 1);
    let unregister = || {
        // SAFETY: the model validates the handle.
        unsafe { PoUnregisterPowerSettingCallback(handle) }
    };
    assert_eq!(unregister(), STATUS_SUCCESS);
    assert_eq!(unregister(), STATUS_INVALID_PARAMETER);
    // SAFETY: a 'static routine.
    let status = unsafe { WheaRegisterInUsePageOfflineNotification(Some(on_page), 0x5a5a as PVOID) };
    assert_eq!(status, STATUS_SUCCESS);
    assert_eq!(trigger::page_offline(0x99, 0x80, true), [1]);
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            WheaUnregisterInUsePageOfflineNotification(Some(on_page)),
            STATUS_SUCCESS
        );
    };
    let table = &ntsim::power::HalDispatchTable;
    let set = table.set_system_information.expect("HalSetSystemInformation");
    let mut handler = on_profile as *const () as usize;
    // SAFETY: the documented-in-header prototype with a pointer-sized buffer.
    let status = unsafe {
        set(
            _HAL_SET_INFORMATION_CLASS::HalProfileSourceInterruptHandler,
            8,
            (&raw mut handler).cast(),
        )
    };
    assert_eq!(status, STATUS_SUCCESS);
    assert!(trigger::profile_interrupt());
    handler = 0;
    // SAFETY: as above; NULL removes the handler.
    let _ = unsafe {
        set(
            _HAL_SET_INFORMATION_CLASS::HalProfileSourceInterruptHandler,
            8,
            (&raw mut handler).cast(),
        )
    };
    assert!(!trigger::profile_interrupt());
    assert_eq!(
        take_log(),
        // Page, flags, poisoned and the registration context, in the metadata's order.
        [
            "setting [0, 0, 0, 0]",
            "page 0x99 flags 0x80 1 context 0x5a5a",
            "profile at 15"
        ]
    );
    kernel.assert_no_bugchecks();
}

// --- Object directory --------------------------------------------------------------------

#[test]
fn callback_directory_is_enumerable() {
    let kernel = Kernel::boot();
    let _ = ntsim::excallback::create_object("\\Callback\\AcpiSimulator", true);
    let mut name = OwnedUnicode::new("\\Callback");
    let mut directory: HANDLE = std::ptr::null_mut();
    let mut names = Vec::new();
    let mut attrs = attributes(&mut name);
    // SAFETY: valid out pointer and attributes naming a live string.
    let status = unsafe { ZwOpenDirectoryObject(&raw mut directory, 1, &raw mut attrs) };
    assert_eq!(status, STATUS_SUCCESS);
    let mut buffer = [0u64; 64];
    let mut context = 0u32;
    let mut returned = 0u32;
    let mut query = |buffer: &mut [u64; 64], length: u32, restart: bool, context: &mut u32| {
        assert!(length as usize <= std::mem::size_of_val(buffer));
        // SAFETY: the buffer is writable for `length` bytes and 8-aligned.
        unsafe {
            ZwQueryDirectoryObject(
                directory,
                buffer.as_mut_ptr().cast(),
                length,
                1,
                u8::from(restart),
                context,
                &raw mut returned,
            )
        }
    };
    loop {
        let status = query(&mut buffer, 512, context == 0, &mut context);
        if status == STATUS_NO_MORE_ENTRIES {
            break;
        }
        assert_eq!(status, STATUS_SUCCESS);
        // SAFETY: the model wrote an entry at the (8-aligned) start of the buffer.
        let entry = unsafe { &*buffer.as_ptr().cast::<ntsim::ob::ObjectDirectoryInformation>() };
        let text = |s: &UNICODE_STRING| {
            // SAFETY: the entry's strings point into the buffer.
            unsafe { ntsim::unicode::read(s) }.expect("a well-formed name")
        };
        names.push((text(&entry.Name), text(&entry.TypeName)));
    }
    assert_eq!(query(&mut buffer, 8, true, &mut context), STATUS_BUFFER_TOO_SMALL);
    // SAFETY: the handle opened above.
    assert_eq!(unsafe { ZwClose(directory) }, STATUS_SUCCESS);
    assert!(
        names.contains(&("SetSystemTime".to_owned(), "Callback".to_owned())),
        "{names:?}"
    );
    assert!(names.contains(&("AcpiSimulator".to_owned(), "Callback".to_owned())));
    assert_eq!(names.len(), ntsim::excallback::SYSTEM_OBJECTS.len() + 1);
    kernel.assert_no_bugchecks();
}

#[test]
fn high_level_callbacks_calling_passive_ddis_are_caught() {
    let kernel = Kernel::boot();
    with_irql(HIGH_LEVEL, || {
        // SAFETY: the model's routine; the call is the violation under test.
        unsafe { DbgPrintEx(77, 0, c"from a bug check callback\n".as_ptr()) };
    });
    kernel.expect_bugcheck(codes::DRIVER_VERIFIER_DETECTED_VIOLATION, 0xE5);
    let _ = PASSIVE_LEVEL;
    let _: *mut c_void = std::ptr::null_mut();
}
