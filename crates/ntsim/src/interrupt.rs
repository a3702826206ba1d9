//! Interrupt connection (kernel-semantics.md §18).
//!
//! `IoConnectInterruptEx` (iointex/nf-iointex-wdmlibioconnectinterruptex,
//! wdm/ns-wdm-_io_connect_interrupt_parameters): PASSIVE_LEVEL. Interrupts
//! exist only on model devices made with [`interrupt_device`]. An unknown
//! `Version` gives `STATUS_INVALID_PARAMETER_1`; a NULL PDO, interrupt-
//! object pointer or routine `STATUS_INVALID_PARAMETER`; an empty
//! `ProcessorEnableMask` `STATUS_INVALID_PARAMETER_10`; a device without
//! interrupts or a vector not assigned to it `STATUS_NOT_FOUND`.
//! `CONNECT_FULLY_SPECIFIED(_GROUP)` connects the line of that vector (its
//! `Irql` must be the line's and `SynchronizeIrql >= Irql`, the model's
//! reading); `CONNECT_LINE_BASED` all the device's lines with one ISR;
//! `CONNECT_MESSAGE_BASED` falls back to the line-based
//! `FallBackServiceRoutine` (the model's devices have no MSI) and returns
//! `Version = CONNECT_LINE_BASED`. The ISR runs at the DIRQL (or
//! `SynchronizeIrql` if higher) and may run before the call returns (a
//! line that is already asserted). `IoDisconnectInterruptEx` needs the
//! returned version and object; a connection left at unload is 0xCE.

#![allow(non_snake_case)]

use std::sync::Mutex;

use wdk_sys::{
    CONNECT_FULLY_SPECIFIED, CONNECT_FULLY_SPECIFIED_GROUP, CONNECT_LINE_BASED,
    IO_CONNECT_INTERRUPT_PARAMETERS, KIRQL, NTSTATUS, PDEVICE_OBJECT, PIO_CONNECT_INTERRUPT_PARAMETERS,
    PIO_DISCONNECT_INTERRUPT_PARAMETERS, PKINTERRUPT, PKSERVICE_ROUTINE, PVOID, STATUS_INVALID_PARAMETER,
    STATUS_INVALID_PARAMETER_1, STATUS_INVALID_PARAMETER_10, STATUS_NOT_FOUND, STATUS_SUCCESS,
};

use crate::irql::{IrqlScope, PASSIVE_LEVEL};
use crate::notify::Registry;
use crate::opaque::OpaqueHandles;
use crate::verifier::{self, ModelRule};
use crate::{ddi, sync::lock};

pub(crate) static INTERRUPTS: Registry = Registry::new("interrupt service routine");

/// A line-based interrupt the PnP manager assigned to a model device
/// (the translated `CmResourceTypeInterrupt` resource, as `IoConnectInterruptEx`
/// finds it for the device's PDO).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptLine {
    /// The (global system interrupt) vector.
    pub vector: u32,
    /// Its DIRQL (3..=12 on x64).
    pub irql: KIRQL,
    /// `Latched` (edge) rather than `LevelSensitive`.
    pub latched: bool,
    /// The device is already interrupting: the model calls the ISR as soon
    /// as it is connected, before `IoConnectInterruptEx` returns (which the
    /// documentation allows, iointex/nf-iointex-wdmlibioconnectinterruptex).
    pub asserted: bool,
}

impl InterruptLine {
    /// A level-sensitive line at `irql`, not interrupting yet.
    #[must_use]
    pub const fn new(vector: u32, irql: KIRQL) -> Self {
        Self {
            vector,
            irql,
            latched: false,
            asserted: false,
        }
    }
}

#[derive(Clone, Debug)]
struct InterruptDevice {
    pdo: usize,
    lines: Vec<InterruptLine>,
}

/// One connection made by `IoConnectInterruptEx`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterruptConnection {
    /// The interrupt object (`PKINTERRUPT`) the routine wrote back.
    pub object: usize,
    /// The version it connected (`Parameters->Version` on return).
    pub version: u32,
    /// The PDO.
    pub pdo: usize,
    /// The vectors it serves.
    pub vectors: Vec<u32>,
    /// The IRQL the ISR runs at.
    pub irql: KIRQL,
    /// The `InterruptService` routine.
    pub routine: usize,
    /// Its `ServiceContext`.
    pub context: usize,
    slot: u64,
}

#[derive(Default)]
struct Interrupts {
    devices: Vec<InterruptDevice>,
    connections: Vec<InterruptConnection>,
    /// The blocks whose addresses are the interrupt objects (`PKINTERRUPT`).
    objects: OpaqueHandles,
    #[allow(
        clippy::vec_box,
        reason = "the model's bus driver objects must stay at their addresses"
    )]
    drivers: Vec<Box<crate::io::DriverImage>>,
}

// SAFETY: plain addresses; the boxes are only identities and model-owned objects.
unsafe impl Send for Interrupts {}

static INTERRUPT_STATE: Mutex<Option<Interrupts>> = Mutex::new(None);

fn with_interrupts<R>(f: impl FnOnce(&mut Interrupts) -> R) -> R {
    f(lock(&INTERRUPT_STATE).get_or_insert_with(Interrupts::default))
}

/// Creates a physical device object `\Device\<name>` (owned by a model bus
/// driver) to which the PnP manager assigned `lines`, as a test's stand-in
/// for a device whose driver connects its interrupts.
///
/// # Panics
/// If the device cannot be created (e.g. the name exists).
#[must_use]
pub fn interrupt_device(name: &str, lines: &[InterruptLine]) -> PDEVICE_OBJECT {
    let mut image = Box::new(crate::io::DriverImage::new("ntsim-bus", None));
    // SAFETY: a driver object the model keeps for the rest of the boot.
    let device = unsafe {
        crate::io::create_device(
            image.object(),
            0,
            Some(&format!("\\Device\\{name}")),
            wdk_sys::FILE_DEVICE_BUS_EXTENDER,
            0,
            false,
        )
    }
    .unwrap_or_else(|status| panic!("creating \\Device\\{name}: {status:#X}"));
    // SAFETY: the device was just created.
    unsafe { (*device).Flags &= !wdk_sys::DO_DEVICE_INITIALIZING };
    with_interrupts(|i| {
        i.drivers.push(image);
        i.devices.push(InterruptDevice {
            pdo: device as usize,
            lines: lines.to_vec(),
        });
    });
    device
}

/// The connections in place.
#[must_use]
pub fn interrupt_connections() -> Vec<InterruptConnection> {
    with_interrupts(|i| i.connections.clone())
}

fn call_isr(connection: &InterruptConnection) -> Option<bool> {
    // SAFETY: stored as a PKSERVICE_ROUTINE.
    let routine = unsafe { std::mem::transmute::<usize, PKSERVICE_ROUTINE>(connection.routine) }?;
    let _irql = IrqlScope::enter(connection.irql);
    INTERRUPTS
        .invoke(connection.slot, || {
            // SAFETY: the connected ISR with its interrupt object and context.
            unsafe { routine(connection.object as PKINTERRUPT, connection.context as PVOID) }
        })
        .map(|r| r != 0)
}

/// Device `pdo` raises interrupt `vector`.
///
/// The ISRs connected to it run at their IRQL (on the calling thread, in
/// the interrupted thread's context), until one returns TRUE. Returns
/// whether one claimed it, or `None` if no ISR is connected to that vector.
///
/// # Panics
/// If called above PASSIVE_LEVEL (the model raises the IRQL itself).
#[must_use = "whether an ISR claimed the interrupt"]
pub fn interrupt(pdo: PDEVICE_OBJECT, vector: u32) -> Option<bool> {
    assert_eq!(
        crate::irql::current(),
        PASSIVE_LEVEL,
        "trigger::interrupt must be called at PASSIVE_LEVEL"
    );
    let connected: Vec<InterruptConnection> = with_interrupts(|i| {
        i.connections
            .iter()
            .filter(|c| c.pdo == pdo as usize && c.vectors.contains(&vector))
            .cloned()
            .collect()
    });
    if connected.is_empty() {
        return None;
    }
    Some(connected.iter().any(|c| call_isr(c) == Some(true)))
}

/// What a connect request resolved to before anything is connected.
struct Plan {
    pdo: usize,
    storage: *mut PKINTERRUPT,
    routine: usize,
    context: usize,
    lines: Vec<InterruptLine>,
    irql: KIRQL,
    version: u32,
}

/// Validates a request (see [`IoConnectInterruptEx`]).
///
/// # Safety
/// `parameters` is a valid `IO_CONNECT_INTERRUPT_PARAMETERS`.
unsafe fn plan_connection(parameters: &IO_CONNECT_INTERRUPT_PARAMETERS) -> Result<Plan, NTSTATUS> {
    let version = parameters.Version;
    if !(CONNECT_FULLY_SPECIFIED..=CONNECT_FULLY_SPECIFIED_GROUP).contains(&version) {
        return Err(STATUS_INVALID_PARAMETER_1);
    }
    // Every version starts with PhysicalDeviceObject.
    // SAFETY: reading the first field, common to all members of the union.
    let pdo = unsafe { parameters.__bindgen_anon_1.LineBased.PhysicalDeviceObject };
    if pdo.is_null() {
        return Err(STATUS_INVALID_PARAMETER);
    }
    let lines = with_interrupts(|i| {
        i.devices
            .iter()
            .find(|d| d.pdo == pdo as usize)
            .map(|d| d.lines.clone())
    })
    .unwrap_or_default();
    let max_irql = |lines: &[InterruptLine]| lines.iter().map(|l| l.irql).max().unwrap_or(0);
    let plan = |storage, routine: PKSERVICE_ROUTINE, context: PVOID, lines, irql, version| Plan {
        pdo: pdo as usize,
        storage,
        routine: routine.map_or(0, |r| r as usize),
        context: context as usize,
        lines,
        irql,
        version,
    };
    match version {
        CONNECT_FULLY_SPECIFIED | CONNECT_FULLY_SPECIFIED_GROUP => {
            // SAFETY: the member this version names.
            let p = unsafe { &parameters.__bindgen_anon_1.FullySpecified };
            if p.InterruptObject.is_null() || p.ServiceRoutine.is_none() {
                return Err(STATUS_INVALID_PARAMETER);
            }
            if p.ProcessorEnableMask == 0 {
                return Err(STATUS_INVALID_PARAMETER_10);
            }
            let Some(line) = lines.iter().find(|l| l.vector == p.Vector).copied() else {
                return Err(STATUS_NOT_FOUND);
            };
            if p.Irql != line.irql || p.SynchronizeIrql < line.irql {
                return Err(STATUS_INVALID_PARAMETER);
            }
            Ok(plan(
                p.InterruptObject,
                p.ServiceRoutine,
                p.ServiceContext,
                vec![line],
                p.SynchronizeIrql,
                version,
            ))
        }
        CONNECT_LINE_BASED => {
            // SAFETY: the member this version names.
            let p = unsafe { &parameters.__bindgen_anon_1.LineBased };
            if p.InterruptObject.is_null() || p.ServiceRoutine.is_none() {
                return Err(STATUS_INVALID_PARAMETER);
            }
            if lines.is_empty() {
                return Err(STATUS_NOT_FOUND);
            }
            let irql = max_irql(&lines).max(p.SynchronizeIrql);
            Ok(plan(
                p.InterruptObject,
                p.ServiceRoutine,
                p.ServiceContext,
                lines,
                irql,
                version,
            ))
        }
        _ => {
            // CONNECT_MESSAGE_BASED: the model's devices have no message-
            // signaled interrupts, so only the fallback can connect.
            // SAFETY: the member this version names.
            let p = unsafe { &parameters.__bindgen_anon_1.MessageBased };
            // SAFETY: every member of this union is a pointer.
            let storage = unsafe { p.ConnectionContext.InterruptObject };
            if storage.is_null() || p.MessageServiceRoutine.is_none() {
                return Err(STATUS_INVALID_PARAMETER);
            }
            if lines.is_empty() || p.FallBackServiceRoutine.is_none() {
                return Err(STATUS_NOT_FOUND);
            }
            let irql = max_irql(&lines).max(p.SynchronizeIrql);
            Ok(plan(
                storage,
                p.FallBackServiceRoutine,
                p.ServiceContext,
                lines,
                irql,
                CONNECT_LINE_BASED,
            ))
        }
    }
}

/// `IoConnectInterruptEx` (iointex/nf-iointex-wdmlibioconnectinterruptex):
/// see the module docs.
///
/// # Safety
/// `parameters` is a valid `IO_CONNECT_INTERRUPT_PARAMETERS`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoConnectInterruptEx(parameters: PIO_CONNECT_INTERRUPT_PARAMETERS) -> NTSTATUS {
    ddi::unless_faulted!(ddi::enter(&ddi::IO_CONNECT_INTERRUPT_EX));
    if parameters.is_null() {
        return STATUS_INVALID_PARAMETER;
    }
    // SAFETY: valid per the caller.
    let request = unsafe { &*parameters };
    // SAFETY: as above.
    let plan = match unsafe { plan_connection(request) } {
        Ok(plan) => plan,
        Err(status) => return status,
    };
    let slot = INTERRUPTS.add(plan.routine, plan.version, plan.pdo as u64);
    let connection = with_interrupts(|i| {
        let object = i.objects.issue(u64::from_le_bytes(*b"KINTRPT\0"));
        let connection = InterruptConnection {
            object,
            version: plan.version,
            pdo: plan.pdo,
            vectors: plan.lines.iter().map(|l| l.vector).collect(),
            irql: plan.irql,
            routine: plan.routine,
            context: plan.context,
            slot,
        };
        i.connections.push(connection.clone());
        connection
    });
    // The ISR may run before the routine returns: a device already
    // interrupting gets its ISR called now, before the interrupt object is
    // written back (the latest the documentation allows).
    if plan.lines.iter().any(|l| l.asserted) {
        let _ = call_isr(&connection);
    }
    // SAFETY: writable per the caller (checked non-NULL in the plan).
    unsafe { plan.storage.write(connection.object as PKINTERRUPT) };
    // SAFETY: valid per the caller; the version actually connected.
    unsafe { (*parameters).Version = plan.version };
    STATUS_SUCCESS
}

/// `IoDisconnectInterruptEx` (iointex/nf-iointex-wdmlibiodisconnectinterruptex).
///
/// PASSIVE_LEVEL, returns nothing. `Version` must be the one
/// `IoConnectInterruptEx` returned and `ConnectionContext` the object it
/// wrote back; anything else (or a second disconnect) is NSIM
/// (`UnknownObject`, or `InvalidParameter` for a wrong version). Waits for
/// a running ISR (SILENT; the model's choice).
///
/// # Safety
/// `parameters` is a valid `IO_DISCONNECT_INTERRUPT_PARAMETERS`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IoDisconnectInterruptEx(parameters: PIO_DISCONNECT_INTERRUPT_PARAMETERS) {
    ddi::enter(&ddi::IO_DISCONNECT_INTERRUPT_EX);
    if parameters.is_null() {
        verifier::model_rule(
            ModelRule::InvalidParameter,
            0,
            "IoDisconnectInterruptEx(NULL)".to_owned(),
        );
        return;
    }
    // SAFETY: valid per the caller.
    let request = unsafe { &*parameters };
    let version = request.Version;
    // SAFETY: every member of the union is a pointer.
    let object = unsafe { request.ConnectionContext.Generic };
    let found = with_interrupts(|i| {
        let position = i.connections.iter().position(|c| c.object == object as usize)?;
        let connection = &i.connections[position];
        if connection.version != version {
            return Some(Err(connection.version));
        }
        Some(Ok(i.connections.remove(position)))
    });
    match found {
        None => {
            verifier::model_rule(
                ModelRule::UnknownObject,
                object as u64,
                format!("IoDisconnectInterruptEx({object:p}): not a connected interrupt object"),
            );
        }
        Some(Err(connected)) => {
            verifier::model_rule(
                ModelRule::InvalidParameter,
                u64::from(version),
                format!(
                    "IoDisconnectInterruptEx: Version {version}, but IoConnectInterruptEx returned {connected}"
                ),
            );
        }
        Some(Ok(connection)) => {
            INTERRUPTS.remove("IoDisconnectInterruptEx", true, |s| s.id == connection.slot);
        }
    }
}

/// The unload check for interrupts (called with the I/O manager's own
/// leftover checks, by [`crate::kernel`]): a connection still in place when a
/// driver unloads is 0xCE (P1 the ISR), as is an ISR still running.
pub(crate) fn interrupt_unload_checks() {
    let pending = crate::verifier::codes::DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS;
    for connection in interrupt_connections() {
        verifier::bugcheck(
            pending,
            [connection.routine as u64, 0, 0, 0],
            format!(
                "unload with an interrupt service routine ({:#x}, interrupt object {:#x}) still connected (IoDisconnectInterruptEx missing)",
                connection.routine, connection.object
            ),
        );
    }
    for routine in INTERRUPTS.in_flight() {
        verifier::bugcheck(
            pending,
            [routine as u64, 0, 0, 0],
            format!("unload while an interrupt service routine ({routine:#x}) is still running"),
        );
    }
}

pub(crate) fn reset() {
    INTERRUPTS.reset();
    let interrupts = lock(&INTERRUPT_STATE).take();
    std::mem::forget(interrupts);
}
