//! The I/O manager: driver objects, device objects, symbolic links, object
//! security, IRPs and opening a device as a user-mode client would.
//!
//! Documented behaviour modeled (pages named at each routine):
//! * `IoCreateDevice` places a named device in the namespace;
//!   an existing name gives `STATUS_OBJECT_NAME_COLLISION`, a missing parent
//!   directory `STATUS_OBJECT_PATH_NOT_FOUND`. The device starts with
//!   `DO_DEVICE_INITIALIZING`, which the I/O manager clears for devices
//!   created in DriverEntry when DriverEntry returns (kernel/initializing-a-device-object);
//!   opens fail while it is set.
//! * A named device created with `IoCreateDevice` gets a default security
//!   descriptor. Its exact content is not documented (the docs only warn that
//!   it is permissive and point to `IoCreateDeviceSecure`); the model uses
//!   owner Administrators, group SYSTEM and the DACL
//!   `(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGWGX;;;WD)(A;;GRGX;;;RC)`.
//! * `IoCreateSymbolicLink` on an existing link name gives
//!   `STATUS_OBJECT_NAME_COLLISION` (the object manager's status for an
//!   existing name); the target need not exist.
//! * Opening a device evaluates its DACL against the caller's token unless
//!   the open names a path below the device and the device lacks
//!   `FILE_DEVICE_SECURE_OPEN` (kernel/controlling-device-namespace-access).
//!   An IOCTL whose `CTL_CODE` access bits require `FILE_READ_DATA` or
//!   `FILE_WRITE_DATA` fails with `STATUS_ACCESS_DENIED` on a handle without it.
//! * IRPs: every IRP must be completed exactly once (a second completion is
//!   bug check 0x44 MULTIPLE_IRP_COMPLETE_REQUESTS); completing with
//!   `STATUS_PENDING` is 0xC9/0x06; a dispatch routine that changes the
//!   IRQL is 0xC9/0x05 (debugger/bug-check-0xc9--driver-verifier-iomanager-violation).
//!
//! Files: `device` (the device store and the device and link routines),
//! `irp` (IRPs, driver objects, opening a device); object security is
//! [`crate::se::object`]. This file only re-exports: the public paths stay
//! `ntsim::io::...`.

mod device;
mod irp;

pub use device::{
    DeviceInfo, IoCreateDevice, IoCreateSymbolicLink, IoDeleteDevice, IoDeleteSymbolicLink, device, devices,
    symbolic_links,
};
pub(crate) use device::{
    create_device, is_live_device, leftovers, open_handle_count, reset, update_security,
};
pub(crate) use irp::send_system_irp;
pub use irp::{CLIENT_PID, Caller, DeviceHandle, DriverImage, IofCompleteRequest, default_dispatch, open};
