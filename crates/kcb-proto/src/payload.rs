//! Per-source payload layouts.
//!
//! Each source in the catalog has exactly one payload type implementing
//! [`Payload`]. All are `#[repr(C)]`, made only of integers, integer arrays
//! and [`WStr`], with explicit `reserved` fields instead of padding, and fit
//! in [`PAYLOAD_SIZE`] bytes (checked at compile time).

use core::fmt;
use core::mem::size_of;

use crate::header::PAYLOAD_SIZE;
use crate::pod::Pod;
use crate::source::SourceId;
use crate::visit::FieldVisitor;
use crate::wstr::WStr;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

mod sealed {
    pub trait Sealed {}
}

/// A payload layout, tied to the one source that uses it.
///
/// Sealed: the set of payloads is part of the wire format.
pub trait Payload: Pod + sealed::Sealed {
    /// The source whose records carry this payload.
    const SOURCE: SourceId;

    /// Feeds every field to `visitor`, in layout order.
    ///
    /// # Errors
    /// Propagates the visitor's errors.
    fn visit<V: FieldVisitor + ?Sized>(&self, visitor: &mut V) -> fmt::Result;
}

/// What holds a payload area and lends it as any payload layout (the
/// record does): the dispatch below reads payloads through it, so this
/// file needs nothing of the record.
#[allow(
    clippy::redundant_pub_crate,
    reason = "must not be re-exported by the glob in lib.rs"
)]
pub(crate) trait PayloadArea {
    /// The payload area viewed as `P`.
    fn view<P: Payload>(&self) -> &P;
}

/// Implements [`Payload`] and builds the source -> payload dispatch table.
macro_rules! payloads {
    ($( $source:ident => $ty:ident |$s:ident, $v:ident| $body:block )*) => {
        $(
            impl sealed::Sealed for $ty {}
            const _: () = assert!(size_of::<$ty>() <= PAYLOAD_SIZE);
            impl Payload for $ty {
                const SOURCE: SourceId = SourceId::$source;
                fn visit<V: FieldVisitor + ?Sized>(&self, $v: &mut V) -> fmt::Result {
                    let $s = self;
                    $body
                }
            }
        )*

        /// Visits the payload held by `area` as the layout of `source`.
        #[allow(clippy::redundant_pub_crate, reason = "must not be re-exported by the glob in lib.rs")]
        pub(crate) fn visit<A: PayloadArea + ?Sized, V: FieldVisitor + ?Sized>(
            area: &A,
            source: SourceId,
            visitor: &mut V,
        ) -> fmt::Result {
            match source {
                $( SourceId::$source => area.view::<$ty>().visit(visitor), )*
            }
        }

        /// Size of the payload layout of `source` (bytes actually used of the
        /// 464-byte payload area).
        #[must_use]
        pub const fn payload_size(source: SourceId) -> usize {
            match source {
                $( SourceId::$source => size_of::<$ty>(), )*
            }
        }
    };
}

/// [`ImageLoadPayload::flags`]: the image is loaded in kernel mode.
pub const IMAGE_FLAG_SYSTEM_MODE: u16 = 1 << 0;
/// [`ImageLoadPayload::flags`]: `IMAGE_INFO_EX` was available.
pub const IMAGE_FLAG_EXTENDED_INFO: u16 = 1 << 1;

/// [`ProcessPayload::flags`]: `IsSubsystemProcess`.
pub const PROCESS_FLAG_SUBSYSTEM: u32 = 1 << 0;
/// [`ProcessPayload::flags`]: `FileOpenNameAvailable`.
pub const PROCESS_FLAG_FILE_OPEN_NAME_AVAILABLE: u32 = 1 << 1;
/// [`ProcessPayload::flags`]: the creation was denied (`CreationStatus` set).
pub const PROCESS_FLAG_DENIED_BY_POLICY: u32 = 1 << 2;

/// [`ThreadPayload::flags`]: created by another process (remote thread).
pub const THREAD_FLAG_REMOTE: u32 = 1 << 0;
/// `ThreadCreate`: the callback ran in the creating thread's context.
///
/// True for the plain `PsSetCreateThreadNotifyRoutine`, so `creator_*` and
/// the remote flag are meaningful; with the `Ex` routine (runs on the new
/// thread) they are not.
pub const THREAD_FLAG_CREATOR_CONTEXT: u32 = 1 << 1;

/// [`ObjectHandlePayload::operation`]: `OB_OPERATION_HANDLE_CREATE`.
pub const OB_OPERATION_HANDLE_CREATE: u32 = 1;
/// [`ObjectHandlePayload::operation`]: `OB_OPERATION_HANDLE_DUPLICATE`.
pub const OB_OPERATION_HANDLE_DUPLICATE: u32 = 2;
/// [`ObjectHandlePayload::object_type`]: process.
pub const OB_TYPE_PROCESS: u32 = 1;
/// [`ObjectHandlePayload::object_type`]: thread.
pub const OB_TYPE_THREAD: u32 = 2;
/// [`ObjectHandlePayload::object_type`]: desktop.
pub const OB_TYPE_DESKTOP: u32 = 3;
/// [`ObjectHandlePayload::flags`]: `KernelHandle`.
pub const OB_FLAG_KERNEL_HANDLE: u32 = 1 << 0;

const fn label_ob_operation(v: u32) -> Option<&'static str> {
    match v {
        OB_OPERATION_HANDLE_CREATE => Some("create"),
        OB_OPERATION_HANDLE_DUPLICATE => Some("duplicate"),
        _ => None,
    }
}

const fn label_ob_type(v: u32) -> Option<&'static str> {
    match v {
        OB_TYPE_PROCESS => Some("process"),
        OB_TYPE_THREAD => Some("thread"),
        OB_TYPE_DESKTOP => Some("desktop"),
        _ => None,
    }
}

const fn label_processor_state(v: u32) -> Option<&'static str> {
    // KE_PROCESSOR_CHANGE_NOTIFY_STATE
    match v {
        0 => Some("before-add"),
        1 => Some("add-completed"),
        2 => Some("add-failed"),
        _ => None,
    }
}

const fn label_bugcheck_reason(v: u32) -> Option<&'static str> {
    // KBUGCHECK_CALLBACK_REASON
    match v {
        0 => Some("invalid"),
        1 => Some("reserved"),
        2 => Some("secondary-dump-data"),
        3 => Some("dump-io"),
        4 => Some("add-pages"),
        5 => Some("secondary-multi-part-dump-data"),
        6 => Some("remove-pages"),
        7 => Some("triage-dump-data"),
        _ => None,
    }
}

/// `Driver`: the driver's own events.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct DriverPayload {
    /// NTSTATUS related to the event (0 if none).
    pub status: i32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Event-specific value.
    pub value: u64,
    /// Human-readable message.
    pub message: WStr<222>,
}

/// `LoadImage`: an image was mapped.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ImageLoadPayload {
    /// `IMAGE_INFO::ImageBase`.
    pub image_base: u64,
    /// `IMAGE_INFO::ImageSize`.
    pub image_size: u64,
    /// `IMAGE_INFO::Properties` (raw bit field).
    pub properties: u32,
    /// `IMAGE_FLAG_*` bits.
    pub flags: u16,
    /// `IMAGE_INFO::ImageSignatureLevel`.
    pub signature_level: u8,
    /// `IMAGE_INFO::ImageSignatureType`.
    pub signature_type: u8,
    /// Full image name.
    pub name: WStr<218>,
}

/// `ProcessCreate`: process creation (kind `CREATE`) or exit (kind `EXIT`).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ProcessPayload {
    /// Parent process id.
    pub parent_pid: u64,
    /// `CreatingThreadId.UniqueProcess`.
    pub creating_pid: u64,
    /// `CreatingThreadId.UniqueThread`.
    pub creating_tid: u64,
    /// `PROCESS_FLAG_*` bits.
    pub flags: u32,
    /// Exit status (exit events only).
    pub exit_status: i32,
    /// Image file name.
    pub image_name: WStr<100>,
    /// Command line.
    pub command_line: WStr<112>,
}

/// `ThreadCreate`: thread creation (kind `CREATE`) or exit (kind `EXIT`).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ThreadPayload {
    /// Process owning the thread.
    pub target_pid: u64,
    /// The thread.
    pub target_tid: u64,
    /// Process that created it (current process at create time).
    pub creator_pid: u64,
    /// Thread that created it.
    pub creator_tid: u64,
    /// `THREAD_FLAG_*` bits.
    pub flags: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// `ObjectHandle`: an `ObRegisterCallbacks` pre (kind `PRE`) or post (kind
/// `POST`) operation.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ObjectHandlePayload {
    /// `OB_OPERATION_HANDLE_*`.
    pub operation: u32,
    /// `OB_TYPE_*`.
    pub object_type: u32,
    /// Process owning the target object (or the target process).
    pub target_pid: u64,
    /// Target thread (thread objects), else 0.
    pub target_tid: u64,
    /// Process opening / duplicating the handle.
    pub source_pid: u64,
    /// Thread opening / duplicating the handle.
    pub source_tid: u64,
    /// `DesiredAccess` (pre) as seen on entry.
    pub desired_access: u32,
    /// `OriginalDesiredAccess`.
    pub original_desired_access: u32,
    /// `GrantedAccess` (post).
    pub granted_access: u32,
    /// `ReturnStatus` (post).
    pub return_status: i32,
    /// `OB_FLAG_*` bits.
    pub flags: u32,
    /// Access bits the callback removed.
    pub stripped_access: u32,
}

/// `Registry`: a `CmRegisterCallbackEx` notification.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RegistryPayload {
    /// `REG_NOTIFY_CLASS` (raw).
    pub notify_class: u32,
    /// Operation status (post notifications).
    pub status: i32,
    /// Registry value type (`REG_*`), for value operations.
    pub value_type: u32,
    /// Value data size, for value operations.
    pub data_size: u32,
    /// Key path.
    pub key_path: WStr<160>,
    /// Value name.
    pub value_name: WStr<60>,
}

/// `CallbackObject`: an `ExNotifyCallback` observed on a named callback
/// object.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CallbackObjectPayload {
    /// `Argument1`.
    pub argument1: u64,
    /// `Argument2`.
    pub argument2: u64,
    /// Index of the callback object in the driver's catalog.
    pub object_index: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Object name (e.g. `\Callback\SetSystemTime`).
    pub name: WStr<66>,
}

/// `PowerSetting`: a power-setting callback.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PowerSettingPayload {
    /// The setting GUID (Windows memory layout).
    pub setting: [u8; 16],
    /// Length of the value passed by the system (may exceed 16).
    pub value_length: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// The first `min(value_length, 16)` bytes of the value.
    pub value: [u8; 16],
}

/// `Nmi`: an NMI callback.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct NmiPayload {
    /// The `Handled` argument.
    pub handled: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Invocation count of this callback.
    pub count: u64,
}

/// `BoundException`: a bound callback.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BoundExceptionPayload {
    /// Invocation count of this callback.
    pub count: u64,
}

/// `BugCheck`: a bug-check callback.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BugCheckPayload {
    /// Address of the callback's buffer.
    pub buffer: u64,
    /// Length of the callback's buffer.
    pub buffer_length: u64,
    /// Records copied to the buffer by the flight recorder.
    pub records_saved: u64,
}

/// `BugCheckReason`: a bug-check reason callback.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BugCheckReasonPayload {
    /// `KBUGCHECK_CALLBACK_REASON`.
    pub reason: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Bug-check code, when the reason provides it.
    pub code: u64,
    /// Bug-check parameters, when the reason provides them.
    pub parameters: [u64; 4],
    /// Length of the reason-specific data.
    pub data_length: u64,
}

/// `ProcessorChange`: a processor-add notification.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ProcessorChangePayload {
    /// `KE_PROCESSOR_CHANGE_NOTIFY_STATE`.
    pub state: u32,
    /// `NtNumber`.
    pub processor_number: u32,
    /// `Status`.
    pub status: i32,
    /// `ProcNumber.Group`.
    pub group: u16,
    /// `ProcNumber.Number`.
    pub group_index: u8,
    /// Reserved, zero.
    pub reserved: u8,
}

/// `Shutdown`: `IRP_MJ_SHUTDOWN` delivered.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ShutdownPayload {
    /// IRP major function.
    pub major_function: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// `LastChanceShutdown`: last-chance `IRP_MJ_SHUTDOWN` delivered.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct LastChanceShutdownPayload {
    /// IRP major function.
    pub major_function: u32,
    /// Reserved, zero.
    pub reserved: u32,
}

/// `PlugPlay`: a `PnP` notification.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PlugPlayPayload {
    /// Notification event GUID.
    pub event: [u8; 16],
    /// Interface class GUID (device interface notifications).
    pub class: [u8; 16],
    /// `IO_NOTIFICATION_EVENT_CATEGORY`.
    pub category: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// Symbolic link name.
    pub symbolic_link: WStr<210>,
}

/// `FsRegistration`: a file system registered or unregistered.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FsRegistrationPayload {
    /// The file system's control device object.
    pub device_object: u64,
    /// Its `DeviceType`.
    pub device_type: u32,
    /// 1 = registered, 0 = unregistered.
    pub active: u32,
    /// Name of the file system's driver.
    pub driver_name: WStr<130>,
}

/// `DriverReinit`: a reinitialization routine ran.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct DriverReinitPayload {
    /// The `Count` argument.
    pub count: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// The context argument.
    pub context: u64,
}

/// `BootDriverReinit`: a boot-driver reinitialization routine ran.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BootDriverReinitPayload {
    /// The `Count` argument.
    pub count: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// The context argument.
    pub context: u64,
}

/// `PageOffline`: WHEA asked whether a page may be taken offline.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct PageOfflinePayload {
    /// Page frame number.
    pub pfn: u64,
    /// The driver's answer (the routine's BOOLEAN; kcallbacks answers 0).
    pub decision: u32,
    /// Bits 0-7: WHEA's `Flags` byte (`WHEA_IN_USE_PAGE_NOTIFY_FLAG_*`);
    /// bit 8 ([`PAGE_OFFLINE_POISONED`]): the `Poisoned` argument. See
    /// [`page_offline_flags`].
    pub flags: u32,
}

/// [`PageOfflinePayload::flags`] bit: WHEA passed `Poisoned = TRUE`.
pub const PAGE_OFFLINE_POISONED: u32 = 1 << 8;

/// Packs the WHEA `Flags` byte and the `Poisoned` argument into
/// [`PageOfflinePayload::flags`].
#[must_use]
pub const fn page_offline_flags(flags: u8, poisoned: bool) -> u32 {
    flags as u32 | if poisoned { PAGE_OFFLINE_POISONED } else { 0 }
}

/// `ProfileInterrupt`: a HAL profile / PMI interrupt.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ProfileInterruptPayload {
    /// Invocation count.
    pub count: u64,
    /// Interrupted instruction pointer, if known.
    pub instruction_pointer: u64,
}

/// `Interrupt`: the connected ISR ran.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct InterruptPayload {
    /// Interrupt vector.
    pub vector: u32,
    /// Message id (message-signaled interrupts).
    pub message_id: u32,
    /// Invocation count.
    pub count: u64,
}

/// `Flood`: one record of a synthetic burst.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct FloodPayload {
    /// Index within the burst.
    pub index: u64,
    /// Burst size.
    pub total: u64,
    /// Checksum of `index` and `total` (see [`flood_checksum`]).
    pub checksum: u64,
}

/// The checksum stored in [`FloodPayload::checksum`].
#[must_use]
pub const fn flood_checksum(index: u64, total: u64) -> u64 {
    (index ^ 0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ total.wrapping_mul(0xFF51_AFD7_ED55_8CCD)
}

payloads! {
    Driver => DriverPayload |p, v| {
        v.status("status", p.status)?;
        v.unsigned("value", p.value)?;
        v.string("message", p.message.view())
    }
    LoadImage => ImageLoadPayload |p, v| {
        v.hex("base", p.image_base)?;
        v.hex("size", p.image_size)?;
        v.hex("properties", u64::from(p.properties))?;
        v.boolean("system_mode", p.flags & IMAGE_FLAG_SYSTEM_MODE != 0)?;
        v.boolean("extended_info", p.flags & IMAGE_FLAG_EXTENDED_INFO != 0)?;
        v.unsigned("signature_level", u64::from(p.signature_level))?;
        v.unsigned("signature_type", u64::from(p.signature_type))?;
        v.string("name", p.name.view())
    }
    ProcessCreate => ProcessPayload |p, v| {
        v.unsigned("parent_pid", p.parent_pid)?;
        v.unsigned("creating_pid", p.creating_pid)?;
        v.unsigned("creating_tid", p.creating_tid)?;
        v.boolean("subsystem", p.flags & PROCESS_FLAG_SUBSYSTEM != 0)?;
        v.boolean("file_open_name", p.flags & PROCESS_FLAG_FILE_OPEN_NAME_AVAILABLE != 0)?;
        v.boolean("denied", p.flags & PROCESS_FLAG_DENIED_BY_POLICY != 0)?;
        v.status("exit_status", p.exit_status)?;
        v.string("image", p.image_name.view())?;
        v.string("cmdline", p.command_line.view())
    }
    ThreadCreate => ThreadPayload |p, v| {
        v.unsigned("target_pid", p.target_pid)?;
        v.unsigned("target_tid", p.target_tid)?;
        v.unsigned("creator_pid", p.creator_pid)?;
        v.unsigned("creator_tid", p.creator_tid)?;
        v.boolean("remote", p.flags & THREAD_FLAG_REMOTE != 0)?;
        v.boolean("creator_context", p.flags & THREAD_FLAG_CREATOR_CONTEXT != 0)
    }
    ObjectHandle => ObjectHandlePayload |p, v| {
        v.enumeration("operation", p.operation, label_ob_operation(p.operation))?;
        v.enumeration("object_type", p.object_type, label_ob_type(p.object_type))?;
        v.unsigned("target_pid", p.target_pid)?;
        v.unsigned("target_tid", p.target_tid)?;
        v.unsigned("source_pid", p.source_pid)?;
        v.unsigned("source_tid", p.source_tid)?;
        v.hex("desired", u64::from(p.desired_access))?;
        v.hex("original_desired", u64::from(p.original_desired_access))?;
        v.hex("granted", u64::from(p.granted_access))?;
        v.status("return_status", p.return_status)?;
        v.boolean("kernel_handle", p.flags & OB_FLAG_KERNEL_HANDLE != 0)?;
        v.hex("stripped", u64::from(p.stripped_access))
    }
    Registry => RegistryPayload |p, v| {
        v.unsigned("notify_class", u64::from(p.notify_class))?;
        v.status("status", p.status)?;
        v.unsigned("value_type", u64::from(p.value_type))?;
        v.unsigned("data_size", u64::from(p.data_size))?;
        v.string("key", p.key_path.view())?;
        v.string("value", p.value_name.view())
    }
    CallbackObject => CallbackObjectPayload |p, v| {
        v.unsigned("object_index", u64::from(p.object_index))?;
        v.string("object", p.name.view())?;
        v.hex("argument1", p.argument1)?;
        v.hex("argument2", p.argument2)
    }
    PowerSetting => PowerSettingPayload |p, v| {
        v.guid("setting", &p.setting)?;
        v.unsigned("value_length", u64::from(p.value_length))?;
        let shown = usize::try_from(p.value_length).map_or(p.value.len(), |n| n.min(p.value.len()));
        v.bytes("value", &p.value[..shown])
    }
    Nmi => NmiPayload |p, v| {
        v.boolean("handled", p.handled != 0)?;
        v.unsigned("count", p.count)
    }
    BoundException => BoundExceptionPayload |p, v| {
        v.unsigned("count", p.count)
    }
    BugCheck => BugCheckPayload |p, v| {
        v.hex("buffer", p.buffer)?;
        v.unsigned("buffer_length", p.buffer_length)?;
        v.unsigned("records_saved", p.records_saved)
    }
    BugCheckReason => BugCheckReasonPayload |p, v| {
        v.enumeration("reason", p.reason, label_bugcheck_reason(p.reason))?;
        v.hex("code", p.code)?;
        v.hex("p1", p.parameters[0])?;
        v.hex("p2", p.parameters[1])?;
        v.hex("p3", p.parameters[2])?;
        v.hex("p4", p.parameters[3])?;
        v.unsigned("data_length", p.data_length)
    }
    ProcessorChange => ProcessorChangePayload |p, v| {
        v.enumeration("state", p.state, label_processor_state(p.state))?;
        v.unsigned("processor", u64::from(p.processor_number))?;
        v.unsigned("group", u64::from(p.group))?;
        v.unsigned("group_index", u64::from(p.group_index))?;
        v.status("status", p.status)
    }
    Shutdown => ShutdownPayload |p, v| {
        v.unsigned("major_function", u64::from(p.major_function))
    }
    LastChanceShutdown => LastChanceShutdownPayload |p, v| {
        v.unsigned("major_function", u64::from(p.major_function))
    }
    PlugPlay => PlugPlayPayload |p, v| {
        v.guid("event", &p.event)?;
        v.guid("class", &p.class)?;
        v.unsigned("category", u64::from(p.category))?;
        v.string("link", p.symbolic_link.view())
    }
    FsRegistration => FsRegistrationPayload |p, v| {
        v.hex("device_object", p.device_object)?;
        v.hex("device_type", u64::from(p.device_type))?;
        v.boolean("active", p.active != 0)?;
        v.string("driver", p.driver_name.view())
    }
    DriverReinit => DriverReinitPayload |p, v| {
        v.unsigned("count", u64::from(p.count))?;
        v.hex("context", p.context)
    }
    BootDriverReinit => BootDriverReinitPayload |p, v| {
        v.unsigned("count", u64::from(p.count))?;
        v.hex("context", p.context)
    }
    PageOffline => PageOfflinePayload |p, v| {
        v.hex("pfn", p.pfn)?;
        v.unsigned("decision", u64::from(p.decision))?;
        v.hex("flags", u64::from(p.flags))
    }
    ProfileInterrupt => ProfileInterruptPayload |p, v| {
        v.unsigned("count", p.count)?;
        v.hex("ip", p.instruction_pointer)
    }
    Interrupt => InterruptPayload |p, v| {
        v.unsigned("vector", u64::from(p.vector))?;
        v.unsigned("message_id", u64::from(p.message_id))?;
        v.unsigned("count", p.count)
    }
    Flood => FloodPayload |p, v| {
        v.unsigned("index", p.index)?;
        v.unsigned("total", p.total)?;
        v.hex("checksum", p.checksum)
    }
}

/// Builds a GUID's 16 bytes (Windows memory layout) from its fields.
#[must_use]
pub const fn guid_bytes(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> [u8; 16] {
    let a = data1.to_le_bytes();
    let b = data2.to_le_bytes();
    let c = data3.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], data4[0], data4[1], data4[2], data4[3], data4[4],
        data4[5], data4[6], data4[7],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn sizes() {
        assert_eq!(size_of::<DriverPayload>(), 464);
        assert_eq!(size_of::<ImageLoadPayload>(), 464);
        assert_eq!(offset_of!(ImageLoadPayload, name), 24);
        assert_eq!(size_of::<ProcessPayload>(), 464);
        assert_eq!(offset_of!(ProcessPayload, image_name), 32);
        assert_eq!(offset_of!(ProcessPayload, command_line), 236);
        assert_eq!(size_of::<ThreadPayload>(), 40);
        assert_eq!(size_of::<ObjectHandlePayload>(), 64);
        assert_eq!(size_of::<RegistryPayload>(), 464);
        assert_eq!(offset_of!(RegistryPayload, value_name), 340);
        assert_eq!(size_of::<CallbackObjectPayload>(), 160);
        assert_eq!(size_of::<PowerSettingPayload>(), 40);
        assert_eq!(size_of::<PlugPlayPayload>(), 464);
        assert_eq!(size_of::<FsRegistrationPayload>(), 280);
        assert_eq!(size_of::<ProcessorChangePayload>(), 16);
        assert_eq!(size_of::<BugCheckReasonPayload>(), 56);
        for s in SourceId::ALL {
            assert!(payload_size(s) <= PAYLOAD_SIZE);
            assert!(payload_size(s) > 0);
        }
    }

    #[test]
    fn guid_layout() {
        let g = guid_bytes(0x0102_0304, 0x0506, 0x0708, [9, 10, 11, 12, 13, 14, 15, 16]);
        assert_eq!(g, [4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16]);
    }
}
