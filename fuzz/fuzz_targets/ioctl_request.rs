//! Every `decode_request::<T>` (what the driver runs on a caller's input
//! buffer) and `Ioctl::from_code` on arbitrary bytes.
//!
//! Properties: never panics; a decoded request re-encodes to exactly the
//! input bytes and carries the current version and its own size; a known
//! control code round-trips.

#![no_main]

use kcb_proto::{
    FloodRequest, GetConfigRequest, GetReportRequest, GetStatsRequest, Ioctl,
    ListCallbackObjectsRequest, NotifyRequest, PROTOCOL_VERSION, QueryCostRequest, ReadEventsRequest,
    Request,
    bytes_of, decode_request,
};
use libfuzzer_sys::fuzz_target;

fn check<T: Request>(data: &[u8]) {
    match decode_request::<T>(data) {
        Ok(request) => {
            assert_eq!(bytes_of(&request), data, "{}", T::IOCTL.name());
            assert_eq!(request.header().version, PROTOCOL_VERSION);
            assert_eq!(request.header().size as usize, size_of::<T>());
        }
        Err(error) => {
            // Every refusal maps to an error NTSTATUS.
            assert!(error.ntstatus() < 0);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check::<GetReportRequest>(data);
    check::<ReadEventsRequest>(data);
    check::<GetStatsRequest>(data);
    check::<GetConfigRequest>(data);
    check::<NotifyRequest>(data);
    check::<ListCallbackObjectsRequest>(data);
    check::<FloodRequest>(data);
    check::<QueryCostRequest>(data);

    for chunk in data.chunks_exact(4) {
        let code = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        if let Ok(ioctl) = Ioctl::from_code(code) {
            assert_eq!(ioctl.code(), code);
            assert!(Ioctl::ALL.contains(&ioctl));
        }
    }
});
