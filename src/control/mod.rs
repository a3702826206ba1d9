//! The control device and what it serves.
//!
//! [`device`] (`\Device\KCallbacks`
//! and its link, as registrations, with their DACL), [`dispatch`] (IRP
//! mechanics), [`ioctl`] (the pure request server: bytes in, bytes out).
//! Uses `registrations`, `pipeline`, `config::settings` and `kernel`;
//! nothing below imports `control`.

pub mod device;
pub mod dispatch;
pub mod ioctl;
