//! The test harness: [`Kernel`] boots a fresh model, loads and unloads one
//! driver the way the I/O manager does, sends it requests, and checks what
//! it left behind.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use wdk_sys::{DRIVER_OBJECT, NTSTATUS, PDRIVER_OBJECT, UNICODE_STRING};

use crate::context::{self, ContextScope, Phase, SYSTEM_PID};
use crate::ddi::Call;
use crate::io::{Caller, DeviceHandle, DriverImage};
use crate::irql::{IrqlScope, PASSIVE_LEVEL};
use crate::verifier::{self, Bugcheck, ModelRule, codes};
use crate::{dbgprint, ddi, excallback, exports, faults, ke, ob, pool, ps, se, thread};

/// A driver's entry point (`DRIVER_INITIALIZE`).
pub type DriverEntry = unsafe extern "C" fn(*mut DRIVER_OBJECT, *const UNICODE_STRING) -> NTSTATUS;

static KERNEL: Mutex<()> = Mutex::new(());

thread_local! {
    static BOOTED_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

struct Driver {
    name: String,
    entry: DriverEntry,
    image: Option<DriverImage>,
    loaded: bool,
    handle: Option<DeviceHandle>,
}

/// A booted kernel model. Holding it serialises tests (the model and the
/// driver's statics are global); dropping it unloads a still-loaded driver
/// and panics if bug checks were recorded that the test did not take.
pub struct Kernel {
    driver: Option<Driver>,
    _guard: MutexGuard<'static, ()>,
}

fn reset_model() {
    verifier::reset();
    faults::reset();
    ddi::reset();
    dbgprint::reset();
    pool::reset();
    ke::reset();
    thread::reset();
    crate::objects::reset();
    ob::reset();
    crate::io::reset();
    ps::reset();
    excallback::reset();
    crate::registry::reset();
    crate::obcallbacks::reset();
    crate::ioreg::reset();
    crate::kecb::reset();
    crate::power::reset();
    exports::reset();
    crate::eventpush::reset();
    crate::clock::reset();
    crate::version::reset();
    crate::etw::reset();
    crate::irql::set(PASSIVE_LEVEL);
    boot_file_system();
}

/// The NTFS file-system control device, so file-system registration
/// routines have something to be told about (created by a model-owned
/// `\FileSystem\Ntfs` driver object).
fn boot_file_system() {
    let _ = ob::insert("\\FileSystem", ob::Object::Directory);
    let image = Box::leak(Box::new(DriverImage::new_file_system("Ntfs")));
    // SAFETY: a driver object the model just built and never frees.
    let device = unsafe {
        crate::io::create_device(
            image.object(),
            0,
            Some("\\Ntfs"),
            wdk_sys::FILE_DEVICE_DISK_FILE_SYSTEM,
            0,
            false,
        )
    };
    if let Ok(device) = device {
        // SAFETY: the device was just created.
        unsafe { (*device).Flags &= !wdk_sys::DO_DEVICE_INITIALIZING };
        let _ = crate::ioreg::file_system_registered(device);
    }
}

/// The registry path of service `name`.
#[must_use]
pub fn service_key(name: &str) -> String {
    format!("\\Registry\\Machine\\System\\CurrentControlSet\\Services\\{name}")
}

/// Creates the key of service `name` as the service control manager does
/// for a demand-start kernel driver (kernel/specifying-driver-load-order):
/// `Type` 1, `Start` 3, `ErrorControl` 1 and its `ImagePath`.
pub fn create_service(name: &str) {
    let key = service_key(name);
    crate::registry::set_dword(&key, "Type", 1);
    crate::registry::set_dword(&key, "Start", 3);
    crate::registry::set_dword(&key, "ErrorControl", 1);
    let image = format!("\\SystemRoot\\System32\\drivers\\{name}.sys");
    crate::registry::set_string(&key, "ImagePath", &image);
}

impl Kernel {
    /// Takes the global lock (waiting for other tests), resets every part
    /// of the model, and boots: namespace directories, system callback
    /// objects, exports, checks on.
    ///
    /// # Panics
    /// If this thread already holds a `Kernel` (the second boot would wait
    /// for the first forever): drop the first one before booting again.
    #[must_use]
    pub fn boot() -> Self {
        assert!(
            !BOOTED_HERE.with(std::cell::Cell::get),
            "Kernel::boot() while this thread still holds a Kernel: drop it first (shadowing does not drop)"
        );
        let guard = KERNEL.lock().unwrap_or_else(PoisonError::into_inner);
        BOOTED_HERE.with(|b| b.set(true));
        reset_model();
        Self {
            driver: None,
            _guard: guard,
        }
    }

    /// Sets the driver [`Kernel::load_driver`] loads: service `name`, entry point `entry`.
    #[must_use]
    pub fn with_driver(mut self, name: &str, entry: DriverEntry) -> Self {
        self.driver = Some(Driver {
            name: name.to_owned(),
            entry,
            image: None,
            loaded: false,
            handle: None,
        });
        self
    }

    const fn driver_mut(&mut self) -> &mut Driver {
        self.driver
            .as_mut()
            .expect("no driver: use Kernel::boot().with_driver(name, entry)")
    }

    /// Loads the driver as the I/O manager does: builds its `DRIVER_OBJECT`
    /// (every `MajorFunction` the invalid-request routine, `DriverName`
    /// `\Driver\<name>`), and calls DriverEntry at PASSIVE_LEVEL in a System
    /// process thread with the registry path
    /// `\Registry\Machine\System\CurrentControlSet\Services\<name>`. On
    /// success the devices it created stop initializing; on failure the image
    /// is unloaded at once (DriverUnload is not called) and the unload checks
    /// run. Returns DriverEntry's status.
    ///
    /// # Panics
    /// If no driver was set or it is already loaded.
    pub fn load_driver(&mut self) -> NTSTATUS {
        let driver = self.driver_mut();
        assert!(!driver.loaded, "driver already loaded");
        let entry = driver.entry;
        // SAFETY: DriverEntry has the DRIVER_INITIALIZE signature with a const
        // registry path; the ABI is identical.
        let init = unsafe {
            std::mem::transmute::<
                DriverEntry,
                unsafe extern "C" fn(*mut DRIVER_OBJECT, *mut UNICODE_STRING) -> NTSTATUS,
            >(entry)
        };
        let key = service_key(&driver.name);
        if !crate::registry::key_exists(&key) {
            create_service(&driver.name);
        }
        let mut image = DriverImage::new(&driver.name, Some(init));
        let object = image.object();
        let registry_path = image.registry_path();
        let status = {
            let _irql = IrqlScope::enter(PASSIVE_LEVEL);
            let _context = ContextScope::enter(SYSTEM_PID, Some(context::new_tid()), Phase::DriverEntry);
            // SAFETY: the driver's entry point with a driver object and registry path built above.
            let status = unsafe { entry(object, registry_path) };
            check_returned_irql("DriverEntry");
            status
        };
        driver.image = Some(image);
        if status >= 0 {
            if let Some(image) = &driver.image {
                image.finish_initializing();
            }
            driver.loaded = true;
            crate::ioreg::run_reinitialization(object);
        } else {
            crate::ioreg::discard_reinitialization(object);
            self.run_unload_checks();
        }
        status
    }

    /// Loads *another* driver beside the driver under test: service `name`,
    /// entry point `entry`, called as [`Kernel::load_driver`] calls the
    /// driver under test's, but with the thread running as that driver's
    /// image ([`context::other_image`]): what it registers is its own, and
    /// the unload checks of the driver under test do not charge it
    /// (issue #12 item 11). The model never unloads it (its driver object
    /// lives until the next boot). Returns DriverEntry's status and the
    /// driver object's address.
    pub fn load_other_driver(&mut self, name: &str, entry: DriverEntry) -> (NTSTATUS, usize) {
        // SAFETY: as in load_driver: the same ABI with a const registry path.
        let init = unsafe {
            std::mem::transmute::<
                DriverEntry,
                unsafe extern "C" fn(*mut DRIVER_OBJECT, *mut UNICODE_STRING) -> NTSTATUS,
            >(entry)
        };
        let image = Box::leak(Box::new(DriverImage::new(name, Some(init))));
        let object = image.object();
        let registry_path = image.registry_path();
        let status = {
            let _irql = IrqlScope::enter(PASSIVE_LEVEL);
            let _context = ContextScope::enter(SYSTEM_PID, Some(context::new_tid()), Phase::Other);
            let _image = context::ImageScope::enter(object as usize);
            // SAFETY: the other driver's entry point with its driver object and registry path.
            let status = unsafe { entry(object, registry_path) };
            check_returned_irql("DriverEntry");
            status
        };
        if status >= 0 {
            image.finish_initializing();
        }
        (status, object as usize)
    }

    /// Whether the driver is loaded.
    #[must_use]
    pub fn is_loaded(&self) -> bool {
        self.driver.as_ref().is_some_and(|d| d.loaded)
    }

    /// The driver object's address, once the driver was loaded.
    #[must_use]
    pub fn driver_object_address(&self) -> Option<usize> {
        self.driver
            .as_ref()
            .and_then(|d| d.image.as_ref())
            .map(|i| std::ptr::from_ref::<DRIVER_OBJECT>(i.object_ref()) as usize)
    }

    /// The driver object (after [`Kernel::load_driver`]).
    ///
    /// # Panics
    /// If the driver was never loaded.
    pub fn driver_object(&mut self) -> PDRIVER_OBJECT {
        self.driver_mut()
            .image
            .as_mut()
            .expect("driver not loaded")
            .object()
    }

    /// Unloads the driver: closes the harness's own device handle, calls
    /// DriverUnload at PASSIVE_LEVEL in a System process thread, then runs
    /// the unload checks (devices, links, registrations, system threads,
    /// callback-object references, callbacks in flight: 0xCE; pool: 0xC4/0x62;
    /// kernel handles: NSIM). Registrations and callback-object references
    /// another driver made ([`Kernel::load_other_driver`],
    /// [`context::as_other_image`]) are that driver's, not leftovers of this
    /// one. Returns whether DriverUnload existed.
    ///
    /// A driver whose `DriverUnload` is NULL cannot be unloaded: nothing is
    /// called, the driver stays loaded (with its registrations) and `false`
    /// is returned, as the I/O manager refuses the request. The docs only
    /// say the routine is optional for non-PnP drivers
    /// (wdm/nc-wdm-driver_unload); what happens without one is the
    /// kernel's behaviour (ReactOS `IopUnloadDriver`: no `DriverUnload`,
    /// `STATUS_INVALID_DEVICE_REQUEST`, the driver stays).
    ///
    /// # Panics
    /// If the driver is not loaded, or a test-owned handle to its device is
    /// still open (the I/O manager would not unload it).
    pub fn unload_driver(&mut self) -> bool {
        let driver = self.driver_mut();
        assert!(driver.loaded, "driver not loaded");
        if let Some(handle) = driver.handle.take() {
            handle.close();
        }
        let image = driver.image.as_mut().expect("loaded driver has an image");
        let object = image.object();
        assert_eq!(
            crate::io::open_handle_count(object),
            0,
            "close every device handle before unloading the driver"
        );
        let Some(unload) = image.unload_routine() else {
            return false;
        };
        {
            let _irql = IrqlScope::enter(PASSIVE_LEVEL);
            let _context = ContextScope::enter(SYSTEM_PID, Some(context::new_tid()), Phase::DriverUnload);
            // SAFETY: the driver's unload routine with its driver object.
            unsafe { unload(object) };
            check_returned_irql("DriverUnload");
        }
        self.driver_mut().loaded = false;
        self.run_unload_checks();
        true
    }

    /// The unload checks (see [`Kernel::unload_driver`]).
    fn run_unload_checks(&mut self) {
        let Some(image) = self.driver.as_mut().and_then(|d| d.image.as_mut()) else {
            return;
        };
        let object = image.object();
        // SAFETY: the driver object lives in `image`.
        let name_address = unsafe { &raw const (*object).DriverName } as u64;
        // Interrupt connections are the I/O manager's too: their unload
        // check (0xCE for a connection left in place) runs with this one.
        crate::interrupt::interrupt_unload_checks();
        let (devices, links) = crate::io::leftovers(object);
        for device in devices {
            left_behind(
                device.address as u64,
                format!(
                    "unload with device object {} still present (IoDeleteDevice missing)",
                    device.name.as_deref().unwrap_or("<unnamed>")
                ),
            );
        }
        for (link, target) in links {
            left_behind(
                0,
                format!("unload with symbolic link {link} -> {target} still present"),
            );
        }
        for (registry, what) in [
            (&ps::LOAD_IMAGE, "load-image"),
            (&ps::PROCESS, "process"),
            (&ps::THREAD, "thread"),
        ] {
            report_leftovers(registry, &format!("{what} notify routine"));
        }
        let families = [
            &crate::registry::CALLBACKS,
            &crate::obcallbacks::CALLBACKS,
            &crate::ioreg::PNP,
            &crate::ioreg::FS_CHANGE,
            &crate::kecb::BUGCHECK,
            &crate::kecb::BUGCHECK_REASON,
            &crate::kecb::NMI,
            &crate::kecb::BOUND,
            &crate::kecb::PROCESSOR,
            &crate::power::POWER_SETTINGS,
            &crate::power::PAGE_OFFLINE,
        ];
        for registry in families {
            report_leftovers(registry, registry.name);
        }
        crate::etw::unload_checks();
        let handler = crate::power::profile_handler();
        if handler != 0 {
            left_behind(
                handler as u64,
                format!("unload with the HAL profile interrupt handler ({handler:#x}) still set"),
            );
        }
        let (held, registered, running) = excallback::leftovers();
        for object_info in held {
            left_behind(
                object_info.address as u64,
                format!(
                    "unload holding {} reference(s) to callback object {}",
                    object_info.driver_references, object_info.name
                ),
            );
        }
        for (function, name) in registered {
            left_behind(
                function as u64,
                format!("unload with callback {function:#x} still registered on {name}"),
            );
        }
        for function in running {
            left_behind(
                function as u64,
                format!("unload while callback {function:#x} is still running"),
            );
        }
        for system_thread in thread::system_threads().into_iter().filter(|t| !t.terminated) {
            left_behind(
                system_thread.start as u64,
                format!(
                    "unload while system thread {:#x} (start {:#x}) still runs",
                    system_thread.tid, system_thread.start
                ),
            );
        }
        for (handle, what) in thread::open_handles() {
            verifier::model_rule(
                ModelRule::HandleLeakedAtUnload,
                handle as u64,
                format!("unload with kernel handle {handle:#x} ({what:?}) not closed (ZwClose missing)"),
            );
        }
        let leaked = pool::outstanding();
        if !leaked.is_empty() {
            let list: Vec<String> = leaked.iter().map(ToString::to_string).collect();
            verifier::bugcheck(
                codes::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [0x62, name_address, 0, leaked.len() as u64],
                format!(
                    "driver unloading without freeing {} pool allocation(s): {}",
                    leaked.len(),
                    list.join("; ")
                ),
            );
        }
    }

    /// Opens `path` as `caller` (see [`crate::io::open`]).
    ///
    /// # Errors
    /// The status the open failed with.
    pub fn open(&self, path: &str, caller: Caller, desired_access: u32) -> Result<DeviceHandle, NTSTATUS> {
        crate::io::open(path, caller, desired_access)
    }

    /// Sends `IRP_MJ_DEVICE_CONTROL` with `code` to the driver's (first)
    /// device, on a handle the harness opens once as an administrator with
    /// `GENERIC_READ | GENERIC_WRITE` and closes at unload. Returns the
    /// completion status and the output bytes (`Information` of them).
    ///
    /// # Panics
    /// If the driver is not loaded, has no device, or the open fails.
    pub fn device_io_control(&mut self, code: u32, input: &[u8], output_len: usize) -> (NTSTATUS, Vec<u8>) {
        let driver = self.driver_mut();
        assert!(driver.loaded, "driver not loaded");
        if driver.handle.is_none() {
            let image = driver.image.as_ref().expect("loaded driver has an image");
            let device = *image
                .device_objects()
                .last()
                .expect("the driver created no device");
            let name = crate::io::devices()
                .into_iter()
                .find(|d| d.address == device as usize)
                .and_then(|d| d.name)
                .expect("the driver's device has no name");
            let handle = crate::io::open(&name, Caller::Administrator, se::GENERIC_READ | se::GENERIC_WRITE)
                .unwrap_or_else(|status| panic!("opening {name} failed: {status:#X}"));
            driver.handle = Some(handle);
        }
        driver
            .handle
            .as_mut()
            .map(|h| h.ioctl(code, input, output_len))
            .unwrap_or_default()
    }

    /// The DDI calls DriverEntry made (in its own thread), in order.
    #[must_use]
    pub fn driver_entry_calls(&self) -> Vec<Call> {
        ddi::calls_in(Phase::DriverEntry)
    }

    /// The captured `DbgPrint`/`DbgPrintEx` output, as lines.
    #[must_use]
    pub fn debug_output(&self) -> Vec<String> {
        dbgprint::debug_output()
    }

    /// The bug checks recorded so far.
    #[must_use]
    pub fn bugchecks(&self) -> Vec<Bugcheck> {
        verifier::bugchecks()
    }

    /// Takes the bug checks recorded so far (they no longer fail the test at drop).
    #[must_use]
    pub fn take_bugchecks(&self) -> Vec<Bugcheck> {
        verifier::take()
    }

    /// Takes the first recorded bug check with `code` and parameter 1 `p1`.
    ///
    /// # Panics
    /// If there is none (listing what was recorded).
    pub fn expect_bugcheck(&self, code: u32, p1: u64) -> Bugcheck {
        let mut all = verifier::take();
        let position = all.iter().position(|b| b.code == code && b.p1() == p1);
        let Some(position) = position else {
            let listed: Vec<String> = all.iter().map(ToString::to_string).collect();
            panic!("expected bug check {code:#X}/{p1:#X}; recorded: {listed:#?}");
        };
        let found = all.remove(position);
        for rest in all {
            verifier::bugcheck(rest.code, rest.params, rest.text);
        }
        found
    }

    /// Panics if any bug check was recorded (listing them).
    pub fn assert_no_bugchecks(&self) {
        let all = verifier::bugchecks();
        assert!(
            all.is_empty(),
            "bug checks recorded: {:#?}",
            all.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
    }
}

fn check_returned_irql(routine: &str) {
    let now = crate::irql::current();
    if now != PASSIVE_LEVEL {
        verifier::model_rule(
            ModelRule::ReturnedAtRaisedIrql,
            u64::from(now),
            format!("{routine} returned at IRQL {now}"),
        );
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        if self.is_loaded() {
            if let Some(handle) = self.driver.as_mut().and_then(|d| d.handle.take()) {
                handle.close();
            }
            let object = self
                .driver
                .as_mut()
                .and_then(|d| d.image.as_mut())
                .map(DriverImage::object);
            if object.is_some_and(|o| crate::io::open_handle_count(o) == 0) {
                self.unload_driver();
            }
        }
        BOOTED_HERE.with(|b| b.set(false));
        let left = verifier::take();
        assert!(
            !(!left.is_empty() && !std::thread::panicking()),
            "bug checks recorded and not taken by the test: {:#?}",
            left.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
    }
}

/// Polls `condition` every 5 ms until it holds or `timeout` passes; returns
/// whether it held.
pub fn poll_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Records 0xCE for each routine of `registry` still registered or still
/// running at unload; `what` names the routine in the text.
fn report_leftovers(registry: &crate::notify::Registry, what: &str) {
    let (live, in_flight) = registry.leftovers();
    for slot in live {
        left_behind(
            slot.routine as u64,
            format!("unload with a {what} ({:#x}) still registered", slot.routine),
        );
    }
    for routine in in_flight {
        left_behind(
            routine as u64,
            format!("unload while a {what} ({routine:#x}) is still running"),
        );
    }
}

/// Records 0xCE (`DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS`)
/// for something the driver left behind at `address` (0 if it has none).
fn left_behind(address: u64, text: String) {
    verifier::bugcheck(
        codes::DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS,
        [address, 0, 0, 0],
        text,
    );
}
