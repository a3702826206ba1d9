//! IRPs and driver objects: completion, the invalid-request routine, the
//! driver object the I/O manager builds, and opening a device and sending
//! it requests as a user-mode client would (see [`crate::io`]).

#![allow(non_snake_case)]

use std::alloc::Layout;

use wdk_sys::{
    CCHAR, DO_DEVICE_INITIALIZING, DO_EXCLUSIVE, DRIVER_EXTENSION, DRIVER_OBJECT, DRVO_LEGACY_DRIVER,
    FILE_DEVICE_SECURE_OPEN, FILE_OBJECT, IO_STACK_LOCATION, IO_TYPE_DRIVER, IO_TYPE_FILE, IO_TYPE_IRP, IRP,
    IRP_MJ_CLEANUP, IRP_MJ_CLOSE, IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_MAXIMUM_FUNCTION, NTSTATUS,
    PDEVICE_OBJECT, PDRIVER_OBJECT, PIRP, STATUS_ACCESS_DENIED, STATUS_INVALID_DEVICE_REQUEST,
    STATUS_NO_SUCH_DEVICE, STATUS_OBJECT_TYPE_MISMATCH, STATUS_PENDING, UNICODE_STRING,
};

use crate::context::{ContextScope, Phase};
use crate::irql::{IrqlScope, PASSIVE_LEVEL};
use crate::se::{self, SecurityDescriptor, Sid};
use crate::unicode::OwnedUnicode;
use crate::verifier::{self, ModelRule, codes};
use crate::{ddi, irql, ob};

use super::device::with_io;

/// `UserMode` (`KPROCESSOR_MODE`).
const USER_MODE: i8 = 1;

fn complete(irp: PIRP, from_ddi: bool) {
    let count = with_io(|io| {
        io.irps.get_mut(&(irp as usize)).map(|n| {
            *n += 1;
            *n
        })
    });
    let Some(count) = count else {
        verifier::model_rule(
            ModelRule::UnknownObject,
            irp as u64,
            format!("IofCompleteRequest({irp:p}): not a live IRP"),
        );
        return;
    };
    if count > 1 {
        verifier::bugcheck(
            codes::MULTIPLE_IRP_COMPLETE_REQUESTS,
            [irp as u64, 0, 0, 0],
            format!("IRP {irp:p} completed {count} times"),
        );
        return;
    }
    // SAFETY: a live IRP the model built.
    let io_status = unsafe { &(*irp).IoStatus };
    // SAFETY: every bit pattern of the union is a valid NTSTATUS.
    let status = unsafe { io_status.__bindgen_anon_1.Status };
    if from_ddi && status == STATUS_PENDING {
        verifier::bugcheck(
            codes::DRIVER_VERIFIER_IOMANAGER_VIOLATION,
            [0x06, status.cast_unsigned().into(), irp as u64, 0],
            format!("IoCompleteRequest({irp:p}) with STATUS_PENDING"),
        );
    }
}

/// `IofCompleteRequest` (wdm/nf-wdm-iocompleterequest): `<= DISPATCH_LEVEL`.
///
/// # Safety
/// `irp` is a live IRP the caller owns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IofCompleteRequest(irp: PIRP, _priority_boost: CCHAR) {
    ddi::enter(&ddi::IOF_COMPLETE_REQUEST);
    complete(irp, true);
}

/// The dispatch routine the I/O manager installs for every major function a
/// driver does not handle (`IopInvalidDeviceRequest`): completes the IRP
/// with `STATUS_INVALID_DEVICE_REQUEST`.
unsafe extern "C" fn invalid_device_request(_device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager passes a live IRP.
    let io_status = unsafe { &mut (*irp).IoStatus };
    io_status.__bindgen_anon_1.Status = STATUS_INVALID_DEVICE_REQUEST;
    io_status.Information = 0;
    complete(irp, false);
    STATUS_INVALID_DEVICE_REQUEST
}

/// The routine every `MajorFunction` entry starts as.
#[must_use]
pub fn default_dispatch() -> wdk_sys::PDRIVER_DISPATCH {
    Some(invalid_device_request)
}

/// A driver object and the strings it points to, as the I/O manager builds
/// them before calling DriverEntry (kernel/writing-a-driverentry-routine):
/// every `MajorFunction` entry is the invalid-request routine,
/// `DriverName` is `\Driver\<name>`, the extension's `ServiceKeyName` is
/// `<name>`, and `Flags` has `DRVO_LEGACY_DRIVER`.
pub struct DriverImage {
    object: Box<DRIVER_OBJECT>,
    _extension: Box<DRIVER_EXTENSION>,
    _name: OwnedUnicode,
    _service: OwnedUnicode,
    registry_path: OwnedUnicode,
}

impl DriverImage {
    /// Builds the driver object for service `name`.
    #[must_use]
    pub fn new(name: &str, entry: wdk_sys::PDRIVER_INITIALIZE) -> Self {
        let driver_name = OwnedUnicode::new(&format!("\\Driver\\{name}"));
        let service = OwnedUnicode::new(name);
        let registry_path = OwnedUnicode::new(&format!(
            "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\{name}"
        ));
        let mut extension = Box::new(DRIVER_EXTENSION {
            DriverObject: std::ptr::null_mut(),
            AddDevice: None,
            Count: 0,
            ServiceKeyName: service.descriptor(),
        });
        let mut object = Box::new(DRIVER_OBJECT {
            Type: IO_TYPE_DRIVER as i16,
            Size: i16::try_from(std::mem::size_of::<DRIVER_OBJECT>()).unwrap_or(i16::MAX),
            DeviceObject: std::ptr::null_mut(),
            Flags: DRVO_LEGACY_DRIVER,
            DriverStart: std::ptr::null_mut(),
            DriverSize: 0,
            DriverSection: std::ptr::null_mut(),
            DriverExtension: std::ptr::null_mut(),
            DriverName: driver_name.descriptor(),
            HardwareDatabase: std::ptr::null_mut(),
            FastIoDispatch: std::ptr::null_mut(),
            DriverInit: entry,
            DriverStartIo: None,
            DriverUnload: None,
            MajorFunction: [default_dispatch(); (IRP_MJ_MAXIMUM_FUNCTION + 1) as usize],
        });
        extension.DriverObject = &raw mut *object;
        object.DriverExtension = &raw mut *extension;
        let _ = ob::insert(&format!("\\Driver\\{name}"), ob::Object::Directory);
        Self {
            object,
            _extension: extension,
            _name: driver_name,
            _service: service,
            registry_path,
        }
    }

    /// A file-system driver's object (`\FileSystem\<name>`), owned by the model.
    #[must_use]
    pub(crate) fn new_file_system(name: &str) -> Self {
        let mut image = Self::new(name, None);
        image._name = OwnedUnicode::new(&format!("\\FileSystem\\{name}"));
        image.object.DriverName = image._name.descriptor();
        image
    }

    /// The `DRIVER_OBJECT`, read-only.
    #[must_use]
    pub fn object_ref(&self) -> &DRIVER_OBJECT {
        &self.object
    }

    /// The `DRIVER_OBJECT`.
    pub fn object(&mut self) -> PDRIVER_OBJECT {
        &raw mut *self.object
    }

    /// The registry path passed to DriverEntry.
    pub const fn registry_path(&mut self) -> *mut UNICODE_STRING {
        self.registry_path.as_ptr()
    }

    /// The driver's `DriverUnload`, if it set one.
    #[must_use]
    pub fn unload_routine(&self) -> wdk_sys::PDRIVER_UNLOAD {
        self.object.DriverUnload
    }

    /// The device objects of this driver, newest first (the driver object's list).
    #[must_use]
    pub fn device_objects(&self) -> Vec<PDEVICE_OBJECT> {
        let mut list = Vec::new();
        let mut device = self.object.DeviceObject;
        while !device.is_null() && list.len() < 1024 {
            list.push(device);
            // SAFETY: the list links device objects created by the model, whose memory is kept.
            device = unsafe { (*device).NextDevice };
        }
        list
    }

    /// Clears `DO_DEVICE_INITIALIZING` on the driver's devices (the I/O
    /// manager does this for devices created in DriverEntry).
    pub(crate) fn finish_initializing(&self) {
        for device in self.device_objects() {
            // SAFETY: live device memory kept by the model.
            unsafe { (*device).Flags &= !DO_DEVICE_INITIALIZING };
        }
    }
}

/// Who opens a device (the token the access check uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// LocalSystem: SYSTEM, Administrators, Everyone, Authenticated Users.
    System,
    /// An elevated administrator: Administrators, Users, Everyone, Authenticated Users.
    Administrator,
    /// A standard user: Users, Everyone, Authenticated Users.
    User,
}

impl Caller {
    /// The SIDs in the caller's token.
    #[must_use]
    pub fn token(self) -> Vec<Sid> {
        match self {
            Self::System => vec![
                Sid::local_system(),
                Sid::administrators(),
                Sid::world(),
                Sid::authenticated_users(),
            ],
            Self::Administrator => {
                vec![
                    Sid::administrators(),
                    Sid::users(),
                    Sid::world(),
                    Sid::authenticated_users(),
                ]
            }
            Self::User => vec![Sid::users(), Sid::world(), Sid::authenticated_users()],
        }
    }
}

/// The process id user-mode requests come from.
pub const CLIENT_PID: u64 = 0x1234;

/// An IRP with one stack location, laid out as the I/O manager allocates it
/// (the stack location follows the IRP).
struct IrpBox {
    memory: *mut u8,
    layout: Layout,
}

impl IrpBox {
    fn new(major: u32, device: PDEVICE_OBJECT, file: *mut FILE_OBJECT) -> Self {
        let irp_size = std::mem::size_of::<IRP>();
        let size = irp_size + std::mem::size_of::<IO_STACK_LOCATION>();
        let layout = Layout::from_size_align(size, 16).unwrap_or_else(|_| unreachable!("constant layout"));
        // SAFETY: non-zero size.
        let memory = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!memory.is_null(), "host allocation failed");
        let irp = memory.cast::<IRP>();
        let stack = memory.wrapping_add(irp_size).cast::<IO_STACK_LOCATION>();
        // SAFETY: fresh zeroed memory laid out as IRP + IO_STACK_LOCATION,
        // exclusively ours until published.
        let irp_ref = unsafe { &mut *irp };
        irp_ref.Type = IO_TYPE_IRP as i16;
        irp_ref.Size = u16::try_from(size).unwrap_or(u16::MAX);
        irp_ref.StackCount = 1;
        irp_ref.CurrentLocation = 1;
        irp_ref.RequestorMode = USER_MODE;
        irp_ref
            .Tail
            .Overlay
            .__bindgen_anon_2
            .__bindgen_anon_1
            .CurrentStackLocation = stack;
        irp_ref.Tail.Overlay.OriginalFileObject = file;
        // SAFETY: as above, the stack location after the IRP.
        let stack_ref = unsafe { &mut *stack };
        stack_ref.MajorFunction = u8::try_from(major).unwrap_or(0);
        stack_ref.DeviceObject = device;
        stack_ref.FileObject = file;
        with_io(|io| io.irps.insert(memory as usize, 0));
        Self { memory, layout }
    }

    const fn irp(&self) -> PIRP {
        self.memory.cast()
    }

    const fn stack(&self) -> *mut IO_STACK_LOCATION {
        self.memory.wrapping_add(std::mem::size_of::<IRP>()).cast()
    }
}

impl Drop for IrpBox {
    fn drop(&mut self) {
        with_io(|io| io.irps.remove(&(self.memory as usize)));
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.memory, self.layout) };
    }
}

/// Sends `irp` to `device`'s driver at PASSIVE_LEVEL in the client's context
/// and checks how it was handled. Returns the final status and `Information`.
fn call_driver(device: PDEVICE_OBJECT, irp: &IrpBox, major: u32) -> (NTSTATUS, usize) {
    call_driver_as(device, irp, major, CLIENT_PID)
}

fn call_driver_as(device: PDEVICE_OBJECT, irp: &IrpBox, major: u32, pid: u64) -> (NTSTATUS, usize) {
    // SAFETY: a live device object of a loaded driver.
    let driver = unsafe { (*device).DriverObject };
    // SAFETY: the device's driver object outlives its devices.
    let dispatch = unsafe { (*driver).MajorFunction[major as usize] };
    let Some(dispatch) = dispatch else {
        verifier::model_rule(
            ModelRule::IrpHandling,
            irp.irp() as u64,
            format!("MajorFunction[{major}] is NULL"),
        );
        return (STATUS_INVALID_DEVICE_REQUEST, 0);
    };
    let _irql = IrqlScope::enter(PASSIVE_LEVEL);
    let _context = ContextScope::enter(pid, None, Phase::Dispatch);
    // SAFETY: the driver's dispatch routine with a live device and IRP.
    let returned = unsafe { dispatch(device, irp.irp()) };
    let after = irql::current();
    if after != PASSIVE_LEVEL {
        verifier::bugcheck(
            codes::DRIVER_VERIFIER_IOMANAGER_VIOLATION,
            [0x05, device as u64, u64::from(PASSIVE_LEVEL), u64::from(after)],
            format!("dispatch routine for major function {major} returned at IRQL {after}"),
        );
    }
    let completed = with_io(|io| io.irps.get(&(irp.irp() as usize)).copied().unwrap_or(0));
    // SAFETY: the IRP stays live until `irp` is dropped.
    let io_status = unsafe { &(*irp.irp()).IoStatus };
    // SAFETY: every bit pattern of the union is a valid NTSTATUS.
    let status = unsafe { io_status.__bindgen_anon_1.Status };
    let information = io_status.Information;
    if returned == STATUS_PENDING {
        verifier::model_rule(
            ModelRule::IrpHandling,
            irp.irp() as u64,
            "the model does not support pended IRPs (STATUS_PENDING)".to_owned(),
        );
    } else if completed == 0 {
        verifier::model_rule(
            ModelRule::IrpHandling,
            irp.irp() as u64,
            format!(
                "dispatch routine for major function {major} returned {returned:#X} without completing the IRP"
            ),
        );
    } else if returned != status {
        verifier::model_rule(
            ModelRule::IrpHandling,
            irp.irp() as u64,
            format!("dispatch routine returned {returned:#X} but completed the IRP with {status:#X}"),
        );
    }
    (returned, usize::try_from(information).unwrap_or(usize::MAX))
}

/// Sends an IRP with major function `major` and no file object to
/// `device`'s driver from a System process thread (the I/O manager's own
/// requests, e.g. `IRP_MJ_SHUTDOWN`). Returns the status.
pub fn send_system_irp(device: PDEVICE_OBJECT, major: u32) -> NTSTATUS {
    let irp = IrpBox::new(major, device, std::ptr::null_mut());
    // SAFETY: the IRP built above.
    unsafe { (*irp.irp()).RequestorMode = 0 };
    call_driver_as(device, &irp, major, crate::context::SYSTEM_PID).0
}

/// An open handle to a device (a file object), as a user-mode client holds it.
pub struct DeviceHandle {
    file: Box<FILE_OBJECT>,
    device: PDEVICE_OBJECT,
    granted: u32,
    closed: bool,
}

// SAFETY: the handle is used by one test thread at a time; the raw pointers
// refer to model-owned memory that outlives it.
unsafe impl Send for DeviceHandle {}

/// Opens `path` (an NT path such as `\Device\X`, or a Win32 device path
/// `\\.\X`, which names `\??\X`) as `caller`, asking for `desired_access`
/// (generic rights allowed), and sends `IRP_MJ_CREATE`.
///
/// # Errors
/// The status the open failed with: name lookup, `STATUS_NO_SUCH_DEVICE`
/// while the device is initializing, `STATUS_ACCESS_DENIED` from the access
/// check, or the driver's create status.
pub fn open(path: &str, caller: Caller, desired_access: u32) -> Result<DeviceHandle, NTSTATUS> {
    let nt_path = path
        .strip_prefix("\\\\.\\")
        .map_or_else(|| path.to_owned(), |rest| format!("\\??\\{rest}"));
    let (object, remainder) = ob::resolve_for_open(&nt_path)?;
    let ob::Object::Device(address) = object else {
        return Err(STATUS_OBJECT_TYPE_MISMATCH);
    };
    let device = address as PDEVICE_OBJECT;
    let (security, exclusive_busy) = with_io(|io| {
        let record = io.devices.iter().find(|d| d.memory == address && !d.deleted);
        (
            record.and_then(|r| r.security.as_deref().map(<[u8]>::to_vec)),
            record.is_some_and(|r| r.handles > 0),
        )
    });
    // SAFETY: live device memory kept by the model.
    let device_ref = unsafe { &*device };
    let (flags, characteristics) = (device_ref.Flags, device_ref.Characteristics);
    if flags & DO_DEVICE_INITIALIZING != 0 {
        return Err(STATUS_NO_SUCH_DEVICE);
    }
    if flags & DO_EXCLUSIVE != 0 && exclusive_busy {
        return Err(STATUS_ACCESS_DENIED);
    }
    let granted = if remainder.is_empty() || characteristics & FILE_DEVICE_SECURE_OPEN != 0 {
        let parsed = security
            .as_deref()
            .and_then(|b| SecurityDescriptor::parse_self_relative(b).ok());
        se::access_check(parsed.as_ref(), &caller.token(), desired_access).ok_or(STATUS_ACCESS_DENIED)?
    } else {
        se::map_generic_file(desired_access)
    };
    // SAFETY: FILE_OBJECT is plain data; all-zero is a valid starting value.
    let mut file: Box<FILE_OBJECT> = Box::new(unsafe { std::mem::zeroed() });
    file.Type = IO_TYPE_FILE as i16;
    file.Size = i16::try_from(std::mem::size_of::<FILE_OBJECT>()).unwrap_or(i16::MAX);
    file.DeviceObject = device;
    let irp = IrpBox::new(IRP_MJ_CREATE, device, &raw mut *file);
    let mut security_context = wdk_sys::IO_SECURITY_CONTEXT {
        SecurityQos: std::ptr::null_mut(),
        AccessState: std::ptr::null_mut(),
        DesiredAccess: granted,
        FullCreateOptions: 0,
    };
    // SAFETY: the stack location of the IRP built above.
    let stack = unsafe { &mut *irp.stack() };
    // Clear the union, then fill the fields the model sets. (Its type has a
    // name bindgen invents, which differs between header sets.)
    #[allow(
        clippy::default_trait_access,
        reason = "the union type's name is bindgen's, not portable"
    )]
    {
        stack.Parameters = Default::default();
    }
    stack.Parameters.Create.SecurityContext = &raw mut security_context;
    let (status, _) = call_driver(device, &irp, IRP_MJ_CREATE);
    if status < 0 {
        return Err(status);
    }
    with_io(|io| {
        if let Some(record) = io.devices.iter_mut().find(|d| d.memory == address) {
            record.handles += 1;
        }
    });
    Ok(DeviceHandle {
        file,
        device,
        granted,
        closed: false,
    })
}

/// An IOCTL's `Information` may not exceed the output buffer's length
/// (NSIM `IrpHandling` otherwise).
fn check_information(irp: &IrpBox, code: u32, information: usize, output_len: usize) {
    if information > output_len {
        verifier::model_rule(
            ModelRule::IrpHandling,
            irp.irp() as u64,
            format!("IOCTL {code:#x} completed with Information {information} > output length {output_len}"),
        );
    }
}

impl DeviceHandle {
    /// The access granted at open.
    #[must_use]
    pub const fn granted_access(&self) -> u32 {
        self.granted
    }

    /// `DeviceIoControl`: builds an `IRP_MJ_DEVICE_CONTROL` and sends it. For
    /// `METHOD_BUFFERED` the system buffer has `max(input, output)` bytes
    /// (input copied in; the rest filled with [`crate::pool::UNINITIALIZED_FILL`]);
    /// after completion `min(Information, output_len)` bytes are copied back
    /// for success and warning statuses. Returns the status and the output.
    ///
    /// The other transfer methods (kernel/buffer-descriptions-for-i-o-control-codes)
    /// go to [`Self::ioctl_unbuffered`].
    ///
    /// # Panics
    /// If the handle was closed.
    pub fn ioctl(&mut self, code: u32, input: &[u8], output_len: usize) -> (NTSTATUS, Vec<u8>) {
        assert!(!self.closed, "handle closed");
        let method = code & 3;
        if method != 0 {
            return self.ioctl_unbuffered(code, input, output_len);
        }
        let access = (code >> 14) & 3;
        if (access & 1 != 0 && self.granted & se::FILE_READ_DATA == 0)
            || (access & 2 != 0 && self.granted & se::FILE_WRITE_DATA == 0)
        {
            return (STATUS_ACCESS_DENIED, Vec::new());
        }
        let length = input.len().max(output_len);
        let mut buffer = vec![crate::pool::UNINITIALIZED_FILL; length];
        buffer[..input.len()].copy_from_slice(input);
        let irp = IrpBox::new(IRP_MJ_DEVICE_CONTROL, self.device, &raw mut *self.file);
        // SAFETY: the IRP built above, ours until sent.
        let irp_ref = unsafe { &mut *irp.irp() };
        irp_ref.AssociatedIrp.SystemBuffer = if length == 0 {
            std::ptr::null_mut()
        } else {
            buffer.as_mut_ptr().cast()
        };
        // SAFETY: its stack location, likewise.
        let stack = unsafe { &mut *irp.stack() };
        // Clear the union, then fill the fields the model sets (see above).
        #[allow(
            clippy::default_trait_access,
            reason = "the union type's name is bindgen's, not portable"
        )]
        {
            stack.Parameters = Default::default();
        }
        stack.Parameters.DeviceIoControl.OutputBufferLength = u32::try_from(output_len).unwrap_or(u32::MAX);
        stack.Parameters.DeviceIoControl.InputBufferLength = u32::try_from(input.len()).unwrap_or(u32::MAX);
        stack.Parameters.DeviceIoControl.IoControlCode = code;
        let (status, information) = call_driver(self.device, &irp, IRP_MJ_DEVICE_CONTROL);
        check_information(&irp, code, information, output_len);
        // NT_ERROR statuses copy nothing back; success and warning statuses do.
        let output = if (status.cast_unsigned() >> 30) == 3 {
            Vec::new()
        } else {
            buffer[..information.min(output_len)].to_vec()
        };
        (status, output)
    }

    /// `DeviceIoControl` with `METHOD_IN_DIRECT`, `METHOD_OUT_DIRECT` or
    /// `METHOD_NEITHER` (kernel/buffer-descriptions-for-i-o-control-codes):
    /// * direct: `SystemBuffer` holds a copy of the input only
    ///   (`InputBufferLength` bytes; NULL without input); the output buffer
    ///   would be described by `MdlAddress`, which the model does not build
    ///   (it stays NULL, and no output is returned);
    /// * neither: `SystemBuffer` is not used (NULL);
    ///   `Parameters.DeviceIoControl.Type3InputBuffer` is the caller's input
    ///   buffer and `Irp->UserBuffer` its output buffer, both the caller's
    ///   own addresses; after completion `min(Information, output_len)`
    ///   bytes of the output buffer are returned for success and warning
    ///   statuses.
    ///
    /// Access checks as for `METHOD_BUFFERED`.
    fn ioctl_unbuffered(&mut self, code: u32, input: &[u8], output_len: usize) -> (NTSTATUS, Vec<u8>) {
        let neither = code & 3 == 3;
        let access = (code >> 14) & 3;
        if (access & 1 != 0 && self.granted & se::FILE_READ_DATA == 0)
            || (access & 2 != 0 && self.granted & se::FILE_WRITE_DATA == 0)
        {
            return (STATUS_ACCESS_DENIED, Vec::new());
        }
        let mut user_input = input.to_vec();
        let mut user_output = vec![crate::pool::UNINITIALIZED_FILL; output_len];
        let mut system_input = input.to_vec();
        let irp = IrpBox::new(IRP_MJ_DEVICE_CONTROL, self.device, &raw mut *self.file);
        // SAFETY: the IRP built above, ours until sent.
        let irp_ref = unsafe { &mut *irp.irp() };
        irp_ref.AssociatedIrp.SystemBuffer = if neither || input.is_empty() {
            std::ptr::null_mut()
        } else {
            system_input.as_mut_ptr().cast()
        };
        irp_ref.MdlAddress = std::ptr::null_mut();
        irp_ref.UserBuffer = if neither && output_len > 0 {
            user_output.as_mut_ptr().cast()
        } else {
            std::ptr::null_mut()
        };
        // SAFETY: its stack location, likewise.
        let stack = unsafe { &mut *irp.stack() };
        // SAFETY: every bit pattern of these integer and pointer fields is valid.
        let mut parameters = unsafe { stack.Parameters.DeviceIoControl };
        parameters.OutputBufferLength = u32::try_from(output_len).unwrap_or(u32::MAX);
        parameters.InputBufferLength = u32::try_from(input.len()).unwrap_or(u32::MAX);
        parameters.IoControlCode = code;
        parameters.Type3InputBuffer = if neither && !input.is_empty() {
            user_input.as_mut_ptr().cast()
        } else {
            std::ptr::null_mut()
        };
        stack.Parameters.DeviceIoControl = parameters;
        let (status, information) = call_driver(self.device, &irp, IRP_MJ_DEVICE_CONTROL);
        check_information(&irp, code, information, output_len);
        let output = if !neither || (status.cast_unsigned() >> 30) == 3 {
            Vec::new()
        } else {
            user_output[..information.min(output_len)].to_vec()
        };
        (status, output)
    }

    /// Closes the handle: `IRP_MJ_CLEANUP`, then `IRP_MJ_CLOSE`.
    pub fn close(mut self) {
        self.close_inner();
    }

    fn close_inner(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        for major in [IRP_MJ_CLEANUP, IRP_MJ_CLOSE] {
            let irp = IrpBox::new(major, self.device, &raw mut *self.file);
            let _ = call_driver(self.device, &irp, major);
        }
        let address = self.device as usize;
        with_io(|io| {
            if let Some(record) = io.devices.iter_mut().find(|d| d.memory == address) {
                record.handles = record.handles.saturating_sub(1);
            }
        });
    }
}

impl Drop for DeviceHandle {
    fn drop(&mut self) {
        self.close_inner();
    }
}
