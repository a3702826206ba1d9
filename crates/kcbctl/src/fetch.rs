//! The driver round trips that several commands share: one request, its
//! reply decoded, errors named after the IOCTL.

use std::mem::size_of;

use kcb_proto::{
    ConfigResponse, DecodeError, GetConfigRequest, GetReportRequest, GetStatsRequest, Ioctl,
    REPORT_BUFFER_SIZE, Request, Response, StatsResponse, bytes_of, decode_response,
};

use crate::{Driver, Error};

/// `IOCTL_KCB_GET_REPORT`: the raw reply (decoded with
/// [`kcb_proto::decode_report`] by the caller, which keeps the bytes the
/// entries borrow).
///
/// # Errors
/// The device's error.
pub fn fetch_report(driver: &mut dyn Driver) -> Result<Vec<u8>, Error> {
    driver.control(
        Ioctl::GetReport,
        bytes_of(&GetReportRequest::new()),
        REPORT_BUFFER_SIZE,
    )
}

/// A decoding result of `ioctl`'s reply as a kcbctl [`Error`].
///
/// # Errors
/// [`Error::BadReply`] naming `ioctl`.
pub fn decode<T>(ioctl: Ioctl, decoded: Result<T, DecodeError>) -> Result<T, Error> {
    decoded.map_err(|error| Error::BadReply { ioctl, error })
}

/// Whether an error means there is no point asking the driver anything else.
#[must_use]
pub const fn is_fatal(error: &Error) -> bool {
    matches!(
        error,
        Error::NotLoaded | Error::AccessDenied | Error::Open { .. } | Error::Io(_)
    )
}

/// Sends `request` with its IOCTL and decodes the fixed-size reply `T`.
///
/// # Errors
/// The device's error, or [`Error::BadReply`] for a reply that does not
/// validate.
pub fn fetch_response<T: Response, R: Request>(driver: &mut dyn Driver, request: &R) -> Result<T, Error> {
    let reply = driver.control(R::IOCTL, bytes_of(request), size_of::<T>())?;
    decode(R::IOCTL, decode_response::<T>(&reply))
}

/// `IOCTL_KCB_GET_STATS`: the driver's per-source counters and ring figures.
///
/// # Errors
/// As [`fetch_response`].
pub fn fetch_stats(driver: &mut dyn Driver) -> Result<StatsResponse, Error> {
    fetch_response(driver, &GetStatsRequest::new())
}

/// `IOCTL_KCB_GET_CONFIG`: the effective configuration.
///
/// # Errors
/// As [`fetch_response`].
pub fn fetch_config(driver: &mut dyn Driver) -> Result<ConfigResponse, Error> {
    fetch_response(driver, &GetConfigRequest::new())
}
