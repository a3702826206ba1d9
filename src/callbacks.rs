//! The driver's callback objects: its own `\Callback\KCallbacks`, observers
//! on the system's named objects, and the live map of `\Callback`.
//!
//! The catalog lists the documented system objects (`SetSystemTime`,
//! `PowerState`, `ProcessorAdd`) and every name from the callback-object
//! internals notes (ExpInitializeCallbacks' table and the boot-time debugger
//! trace). Each is opened, never created; an object missing on this system,
//! or one that allows a single callback that is taken, is reported as
//! unavailable.

use core::{
    ffi::c_void,
    sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, AtomicU64, Ordering},
};

use kcb_proto::{
    CallbackObjectEntry, CallbackObjectListHeader, PROTOCOL_VERSION, RegistrationState, RequestError, WStr,
    report_detail, write_pod,
};
use wdk_sys::{
    _CALLBACK_OBJECT, DIRECTORY_QUERY, HANDLE, OBJ_CASE_INSENSITIVE, OBJ_KERNEL_HANDLE, OBJECT_ATTRIBUTES,
    STATUS_NO_MORE_ENTRIES, UNICODE_STRING,
    ntddk::{ZwClose, ZwOpenDirectoryObject, ZwQueryDirectoryObject},
};

use crate::{
    ex::{CallbackObject, CallbackRegistration, Owned, System},
    guard::Failure,
    kprintln,
    report::{Api, REPORT, print_outcome},
    unicode::{Utf16Display, WideName, units_of},
};

/// One catalog entry: a named callback object and the observer's outcome.
pub struct CatalogEntry {
    /// `\Callback\...`.
    pub name: WideName,
    /// Raw [`RegistrationState`] of the observer (0: not attempted).
    state: AtomicU32,
    status: AtomicI32,
    detail: AtomicU32,
    /// Notifications observed.
    fired: AtomicU64,
    /// Created allowing a single callback (marked `[x]` in the internals
    /// notes' table), so a second registration is refused by design.
    single_callback: bool,
}

impl CatalogEntry {
    const fn new(name: &str) -> Self {
        Self {
            name: WideName::new(name),
            state: AtomicU32::new(0),
            status: AtomicI32::new(0),
            detail: AtomicU32::new(0),
            fired: AtomicU64::new(0),
            single_callback: false,
        }
    }

    const fn single_callback(name: &str) -> Self {
        Self {
            single_callback: true,
            ..Self::new(name)
        }
    }

    fn set(&self, state: RegistrationState, status: i32, detail: u32) {
        self.store(state as u32, status, detail);
        print_outcome(Utf16Display(self.name.units()), state, status, detail);
    }

    /// Records an outcome without printing it (raw state 0: not attempted).
    fn store(&self, state: u32, status: i32, detail: u32) {
        self.status.store(status, Ordering::Relaxed);
        self.detail.store(detail, Ordering::Relaxed);
        self.state.store(state, Ordering::Release);
    }

    fn state(&self) -> Option<RegistrationState> {
        RegistrationState::from_u32(self.state.load(Ordering::Acquire))
    }
}

/// Index of the driver's own object in [`CATALOG`].
pub const OWN_INDEX: usize = 0;

/// The driver's own object and the system objects it observes.
pub static CATALOG: [CatalogEntry; 27] = [
    CatalogEntry::new("\\Callback\\KCallbacks"),
    // Documented system-defined objects (kernel/using-a-system-defined-callback-object).
    CatalogEntry::new("\\Callback\\SetSystemTime"),
    CatalogEntry::new("\\Callback\\PowerState"),
    CatalogEntry::new("\\Callback\\ProcessorAdd"),
    // Created by ExpInitializeCallbacks and others (internals notes, table).
    CatalogEntry::new("\\Callback\\EnlightenmentState"),
    CatalogEntry::new("\\Callback\\SetSystemState"),
    CatalogEntry::new("\\Callback\\Phase1InitComplete"),
    CatalogEntry::new("\\Callback\\SeImageVerificationDriverInfo"),
    CatalogEntry::new("\\Callback\\SeImageVerificationBlockInfo"),
    CatalogEntry::new("\\Callback\\SoftRestart"),
    CatalogEntry::new("\\Callback\\BootDriver"),
    CatalogEntry::new("\\Callback\\LicensingData"),
    CatalogEntry::new("\\Callback\\IoSessionNotifications"),
    CatalogEntry::new("\\Callback\\IoExternalDmaUnblock"),
    CatalogEntry::single_callback("\\Callback\\PowerPort"),
    CatalogEntry::new("\\Callback\\PowerMonitorPort"),
    CatalogEntry::new("\\Callback\\SleepstudyControlPort"),
    // Seen in the boot-time ExCreateCallback trace (internals notes).
    CatalogEntry::new("\\Callback\\542875F90F9B47F497B64BA219CACF69"),
    CatalogEntry::new("\\Callback\\AcpiSimulator"),
    CatalogEntry::new("\\Callback\\VMCIDetachCB"),
    CatalogEntry::new("\\Callback\\WdProcessNotificationCallback"),
    CatalogEntry::new("\\Callback\\WdNriNotificationCallback"),
    CatalogEntry::new("\\Callback\\NdisBindUnbind"),
    CatalogEntry::new("\\Callback\\TcpConnectionCallbackTemp"),
    CatalogEntry::new("\\Callback\\TcpTimerStarvationCallbackTemp"),
    CatalogEntry::new("\\Callback\\AfdTdxCallback"),
    CatalogEntry::new("\\Callback\\DamExemptCheckCallback"),
];

/// Counts one observed notification of catalog entry `index`.
///
/// # IRQL
/// Any.
pub fn count_fired(index: u32) {
    if let Some(entry) = CATALOG.get(index as usize) {
        entry.fired.fetch_add(1, Ordering::Relaxed);
    }
}

/// The driver's own object, while it exists (for `IOCTL_KCB_NOTIFY`).
static OWN_OBJECT: AtomicPtr<_CALLBACK_OBJECT> = AtomicPtr::new(core::ptr::null_mut());

/// An observer on one system object. Dropping it unregisters, then releases
/// the object, then reports the removal.
struct Observer {
    registration: Option<CallbackRegistration>,
    object: Option<CallbackObject<System>>,
    index: usize,
}

impl Drop for Observer {
    fn drop(&mut self) {
        drop(self.registration.take());
        drop(self.object.take());
        CATALOG[self.index].set(RegistrationState::Removed, 0, report_detail::NONE);
    }
}

/// The driver's callback objects; dropping unregisters every observer, then
/// the own object's observer, then releases the own object.
pub struct CallbackObjects {
    observers: [Option<Observer>; CATALOG.len()],
    own_observer: Option<CallbackRegistration>,
    own: Option<CallbackObject<Owned>>,
}

impl CallbackObjects {
    /// Creates `\Callback\KCallbacks`, registers the driver's observer on it
    /// and on every system object that exists, reporting each attempt.
    ///
    /// # IRQL
    /// PASSIVE_LEVEL.
    #[must_use]
    pub fn register() -> Self {
        // Nothing attempted yet (a previous load's outcomes are stale).
        for entry in &CATALOG {
            entry.store(0, 0, report_detail::NONE);
        }
        let own_name = CATALOG[OWN_INDEX].name.as_unicode_string();
        let own = match CallbackObject::<Owned>::create_or_open(&own_name, true, true) {
            Ok(object) => {
                REPORT.set(Api::OwnCallbackObject, RegistrationState::Registered, 0);
                Some(object)
            }
            Err(failure) => {
                report_failure(Api::OwnCallbackObject, failure);
                CATALOG[OWN_INDEX].store(failure.state as u32, failure.status, failure.detail);
                None
            }
        };
        // The own object's catalog entry mirrors its observer (printed
        // through the report, so stored silently) for the map.
        let own_entry = &CATALOG[OWN_INDEX];
        let own_observer = own
            .as_ref()
            .and_then(|object| match object.register(observe, own_entry) {
                Ok(registration) => {
                    REPORT.set(Api::OwnCallbackObserver, RegistrationState::Registered, 0);
                    own_entry.store(RegistrationState::Registered as u32, 0, report_detail::NONE);
                    Some(registration)
                }
                Err(failure) => {
                    report_failure(Api::OwnCallbackObserver, failure);
                    own_entry.store(failure.state as u32, failure.status, failure.detail);
                    None
                }
            });
        if let Some(object) = &own {
            OWN_OBJECT.store(object.as_ptr(), Ordering::Release);
        }
        let mut observers = [const { None }; CATALOG.len()];
        if own.is_some() {
            for (index, slot) in observers.iter_mut().enumerate().skip(OWN_INDEX + 1) {
                *slot = observe_system_object(index);
            }
        } else {
            kprintln!("callback objects unavailable on this system: system objects not observed");
        }
        Self {
            observers,
            own_observer,
            own,
        }
    }

    /// Removes every registration (also done by drop).
    pub fn unregister(&mut self) {
        for observer in &mut self.observers {
            drop(observer.take());
        }
        OWN_OBJECT.store(core::ptr::null_mut(), Ordering::Release);
        if self.own_observer.take().is_some() {
            REPORT.set(Api::OwnCallbackObserver, RegistrationState::Removed, 0);
            CATALOG[OWN_INDEX].store(RegistrationState::Removed as u32, 0, report_detail::NONE);
        }
        if self.own.take().is_some() {
            REPORT.set(Api::OwnCallbackObject, RegistrationState::Removed, 0);
        }
    }

    /// Observers and objects removed so far, for the unload summary.
    #[must_use]
    pub fn removed_count() -> u32 {
        // The own object's entry is counted through the report.
        let n = CATALOG
            .iter()
            .skip(OWN_INDEX + 1)
            .filter(|e| e.state() == Some(RegistrationState::Removed))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Observers in `state`, for the load summary.
    #[must_use]
    pub fn count(state: RegistrationState) -> u32 {
        let n = CATALOG
            .iter()
            .skip(OWN_INDEX + 1)
            .filter(|e| e.state() == Some(state))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

impl Drop for CallbackObjects {
    fn drop(&mut self) {
        self.unregister();
    }
}

fn report_failure(api: Api, failure: Failure) {
    REPORT.set_detailed(api, failure.state, failure.status, failure.detail);
}

/// Opens system object `index` and registers the observer on it.
fn observe_system_object(index: usize) -> Option<Observer> {
    let entry = &CATALOG[index];
    let name = entry.name.as_unicode_string();
    let object = match CallbackObject::<System>::open(&name) {
        Ok(object) => object,
        Err(failure) => {
            entry.set(failure.state, failure.status, failure.detail);
            return None;
        }
    };
    match object.register(observe, entry) {
        Ok(registration) => {
            entry.set(RegistrationState::Registered, 0, report_detail::NONE);
            Some(Observer {
                registration: Some(registration),
                object: Some(object),
                index,
            })
        }
        Err(failure) if entry.single_callback => {
            // Created allowing a single callback, which the system's own
            // user holds: refusing a second one is how it works, not a fault.
            entry.set(
                RegistrationState::NotAvailable,
                failure.status,
                report_detail::SINGLE_CALLBACK_TAKEN,
            );
            None
        }
        Err(failure) => {
            entry.set(failure.state, failure.status, failure.detail);
            None
        }
    }
}

/// The observer routine on every object: records the notification with the
/// object's name and both arguments. Runs at the notifier's IRQL (<=
/// DISPATCH_LEVEL): bounded work, no allocation, no lock.
unsafe extern "C" fn observe(context: *mut c_void, argument1: *mut c_void, argument2: *mut c_void) {
    let _cost = crate::cost::Span::start(kcb_proto::SourceId::CallbackObject);
    if context.is_null() {
        return;
    }
    // SAFETY: the context is the 'static CatalogEntry registered with this routine.
    let entry = unsafe { &*context.cast::<CatalogEntry>() };
    let index = CATALOG
        .iter()
        .position(|e| core::ptr::eq(e, entry))
        .unwrap_or(usize::MAX);
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    count_fired(index);
    crate::ex::record_notification(index, entry.name.units(), argument1 as u64, argument2 as u64);
}

/// `IOCTL_KCB_NOTIFY`: `ExNotifyCallback` on `\Callback\KCallbacks`.
///
/// # Errors
/// `None` when the object does not exist (callback objects unavailable).
///
/// # IRQL
/// PASSIVE_LEVEL (IOCTL dispatch).
#[must_use]
pub fn notify_own(argument1: u64, argument2: u64) -> Option<Result<(), i32>> {
    let object = OWN_OBJECT.load(Ordering::Acquire);
    if object.is_null() {
        return None;
    }
    Some(crate::ex::notify_raw(object, argument1, argument2))
}

/// Writes the `\Callback` map (`IOCTL_KCB_LIST_CALLBACK_OBJECTS`).
///
/// Every object in the live directory, and each catalog object, with the
/// observer's state. Entries are written one at a time (no large stack or
/// heap buffer).
///
/// # Errors
/// [`RequestError::TooSmall`] if `out` cannot hold the header.
///
/// # IRQL
/// PASSIVE_LEVEL.
pub fn write_map(out: &mut [u8]) -> Result<usize, RequestError> {
    let header_size = size_of::<CallbackObjectListHeader>();
    if out.len() < header_size {
        return Err(RequestError::TooSmall);
    }
    let mut writer = MapWriter {
        out,
        count: 0,
        returned: 0,
    };
    let listed = walk_directory(|name| writer.push_name(name));
    // Catalog objects the directory did not show (or all, if it could not
    // be read): their state is still worth reporting.
    for entry in &CATALOG {
        if !listed.contains(entry.name.units()) {
            writer.push_name(entry.name.units());
        }
    }
    Ok(writer.finish())
}

struct MapWriter<'a> {
    out: &'a mut [u8],
    count: u32,
    returned: u32,
}

impl MapWriter<'_> {
    fn push_name(&mut self, name: &[u16]) {
        let mut entry = CallbackObjectEntry {
            index: u32::MAX,
            state: 0,
            status: 0,
            reserved: 0,
            fired: 0,
            name: WStr::default(),
            reserved2: [0; 2],
        };
        entry.name.set_from_utf16(name);
        if let Some((index, known)) = CATALOG
            .iter()
            .enumerate()
            .find(|(_, e)| eq_ignore_case(e.name.units(), name))
        {
            entry.index = u32::try_from(index).unwrap_or(u32::MAX);
            entry.state = known.state.load(Ordering::Acquire);
            entry.status = known.status.load(Ordering::Relaxed);
            entry.fired = known.fired.load(Ordering::Relaxed);
        }
        let offset =
            size_of::<CallbackObjectListHeader>() + self.returned as usize * size_of::<CallbackObjectEntry>();
        self.count += 1;
        if let Some(rest) = self.out.get_mut(offset..)
            && write_pod(&entry, rest).is_some()
        {
            self.returned += 1;
        }
    }

    fn finish(self) -> usize {
        let header = CallbackObjectListHeader {
            version: PROTOCOL_VERSION,
            count: self.count,
            returned: self.returned,
            reserved: 0,
        };
        let _ = write_pod(&header, self.out);
        size_of::<CallbackObjectListHeader>() + self.returned as usize * size_of::<CallbackObjectEntry>()
    }
}

fn eq_ignore_case(a: &[u16], b: &[u16]) -> bool {
    let lower = |u: u16| {
        if (u16::from(b'A')..=u16::from(b'Z')).contains(&u) {
            u + 32
        } else {
            u
        }
    };
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| lower(x) == lower(y))
}

/// Names of catalog objects seen in the directory walk (a bitmap over the
/// catalog: no allocation).
pub(crate) struct Listed(u64);

impl Listed {
    fn contains(&self, name: &[u16]) -> bool {
        CATALOG
            .iter()
            .position(|e| eq_ignore_case(e.name.units(), name))
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

/// Room for one OBJECT_DIRECTORY_INFORMATION and its names.
const DIRECTORY_BUFFER_SIZE: usize = 1024;
#[allow(clippy::cast_possible_truncation, reason = "1024")]
const DIRECTORY_BUFFER_LEN: u32 = DIRECTORY_BUFFER_SIZE as u32;

/// `OBJECT_DIRECTORY_INFORMATION` (wdm/nf-wdm-zwquerydirectoryobject): not
/// in the DDK headers the bindings come from.
#[repr(C)]
struct ObjectDirectoryInformation {
    name: UNICODE_STRING,
    type_name: UNICODE_STRING,
}

#[repr(C, align(8))]
struct DirectoryBuffer([u8; DIRECTORY_BUFFER_SIZE]);

/// `\Callback`.
pub static CALLBACK_DIRECTORY: WideName = WideName::new("\\Callback");

/// Calls `visit` with the full name (`\Callback\X`) of every object in the
/// `\Callback` directory, one entry at a time. Returns which catalog names
/// were seen. A failure to open or read the directory is printed.
///
/// # IRQL
/// PASSIVE_LEVEL.
pub(crate) fn walk_directory(mut visit: impl FnMut(&[u16])) -> Listed {
    let mut listed = Listed(0);
    let mut name = CALLBACK_DIRECTORY.as_unicode_string();
    let mut attributes = OBJECT_ATTRIBUTES {
        #[allow(clippy::cast_possible_truncation, reason = "48 bytes")]
        Length: size_of::<OBJECT_ATTRIBUTES>() as u32,
        ObjectName: &raw mut name,
        Attributes: OBJ_CASE_INSENSITIVE | OBJ_KERNEL_HANDLE,
        ..OBJECT_ATTRIBUTES::default()
    };
    let mut directory: HANDLE = core::ptr::null_mut();
    // SAFETY: valid attributes; PASSIVE_LEVEL.
    let status = unsafe { ZwOpenDirectoryObject(&raw mut directory, DIRECTORY_QUERY, &raw mut attributes) };
    if status < 0 {
        kprintln!(
            "callback map: cannot open \\Callback: status={:#010X}",
            status.cast_unsigned()
        );
        return listed;
    }
    let mut buffer = DirectoryBuffer([0; DIRECTORY_BUFFER_SIZE]);
    let mut context = 0_u32;
    let mut full = [0u16; 128];
    let prefix = CALLBACK_DIRECTORY.units();
    full[..prefix.len()].copy_from_slice(prefix);
    full[prefix.len()] = u16::from(b'\\');
    for _ in 0..1024 {
        let mut returned = 0_u32;
        // SAFETY: open directory handle; the buffer is writable for its
        // length; one entry per call, restarting only on the first.
        let status = unsafe {
            ZwQueryDirectoryObject(
                directory,
                buffer.0.as_mut_ptr().cast(),
                DIRECTORY_BUFFER_LEN,
                1,
                u8::from(context == 0),
                &raw mut context,
                &raw mut returned,
            )
        };
        if status == STATUS_NO_MORE_ENTRIES {
            break;
        }
        if status < 0 {
            kprintln!(
                "callback map: cannot read \\Callback: status={:#010X}",
                status.cast_unsigned()
            );
            break;
        }
        #[allow(clippy::cast_ptr_alignment, reason = "DirectoryBuffer is 8-byte aligned")]
        let first = buffer.0.as_ptr().cast::<ObjectDirectoryInformation>();
        // SAFETY: on success the buffer starts with an
        // OBJECT_DIRECTORY_INFORMATION whose names point into the buffer.
        let info = unsafe { &*first };
        // SAFETY: the name is a valid UNICODE_STRING filled by the kernel.
        let short = unsafe { units_of(&raw const info.name) };
        let start = prefix.len() + 1;
        let Some(slot) = full.get_mut(start..start + short.len()) else {
            continue;
        };
        slot.copy_from_slice(short);
        let name = &full[..start + short.len()];
        if let Some(i) = CATALOG.iter().position(|e| eq_ignore_case(e.name.units(), name)) {
            listed.0 |= 1 << i;
        }
        visit(name);
    }
    // SAFETY: our own kernel handle, closed once.
    let _ = unsafe { ZwClose(directory) };
    listed
}

/// Prints the `\Callback` map: each object and whether an observer is
/// attached (at load, after registering).
///
/// # IRQL
/// PASSIVE_LEVEL.
pub fn print_map() {
    let mut objects = 0_u32;
    walk_directory(|name| {
        objects += 1;
        let state = CATALOG
            .iter()
            .find(|e| eq_ignore_case(e.name.units(), name))
            .and_then(CatalogEntry::state)
            .map_or("not observed", |s| crate::report::outcome_word(s));
        kprintln!("callback map: {} observer={state}", Utf16Display(name));
    });
    kprintln!("callback map: {objects} objects in \\Callback");
}
