//! Control-device requests: decoding, validation and answers.
//!
//! Every request is METHOD_BUFFERED: the I/O manager copies the caller's
//! input into a kernel buffer, so nothing here touches user memory. Each
//! input is decoded by copy with its length, version and size checked
//! ([`kcb_proto::decode_request`]); bad input completes with a precise status
//! and changes nothing.

use kcb_proto::{
    ConfigResponse, EventRecord, FloodPayload, FloodRequest, FloodResponse, GetConfigRequest,
    GetReportRequest, GetStatsRequest, Ioctl, ListCallbackObjectsRequest, ListRegistrationsRequest,
    MAX_REPORT_ENTRIES, NotifyRequest, ReadEventsRequest, ReadEventsWriter, RegistrationState, ReportEntry,
    RequestError, SOURCE_COUNT, SourceId, SourceStats, StatsResponse, decode_request, flood_checksum, kind,
    write_report, write_response,
};
use wdk_sys::{NTSTATUS, STATUS_NOT_SUPPORTED, STATUS_SUCCESS};

use crate::{
    VERSION,
    config::settings,
    pipeline::events,
    pipeline::rings,
    registrations::report::{API_COUNT, Api, REPORT},
};

/// Why a request failed: a protocol error, or a status of its own.
enum Failure {
    Protocol(RequestError),
    Status(NTSTATUS),
}

impl From<RequestError> for Failure {
    fn from(error: RequestError) -> Self {
        Self::Protocol(error)
    }
}

/// What the dispatch routine learned from the IRP.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// `IoControlCode`.
    pub code: u32,
    /// `InputBufferLength`.
    pub input_length: usize,
    /// `OutputBufferLength`.
    pub output_length: usize,
}

/// Serves one request. `buffer` is the METHOD_BUFFERED system buffer
/// (max(input, output) bytes). Returns the completion status and the number
/// of output bytes (`IoStatus.Information`).
///
/// # IRQL
/// PASSIVE_LEVEL (dispatch routine).
#[must_use]
pub fn handle(request: &Request, buffer: &mut [u8]) -> (NTSTATUS, usize) {
    match serve(request, buffer) {
        Ok(written) => (STATUS_SUCCESS, written),
        Err(Failure::Protocol(error)) => (error.ntstatus(), 0),
        Err(Failure::Status(status)) => (status, 0),
    }
}

fn serve(request: &Request, buffer: &mut [u8]) -> Result<usize, Failure> {
    let input = buffer
        .get(..request.input_length)
        .ok_or(RequestError::InvalidParameter)?;
    match Ioctl::from_code(request.code)? {
        Ioctl::GetReport => {
            let _: GetReportRequest = decode_request(input)?;
            let output = output_of(request, buffer)?;
            Ok(report(output)?)
        }
        Ioctl::ReadEvents => {
            let read: ReadEventsRequest = decode_request(input)?;
            let output = output_of(request, buffer)?;
            Ok(read_events(output, read.max_records)?)
        }
        Ioctl::GetStats => {
            let _: GetStatsRequest = decode_request(input)?;
            Ok(write_response(output_of(request, buffer)?, &stats())?)
        }
        Ioctl::GetConfig => {
            let _: GetConfigRequest = decode_request(input)?;
            Ok(write_response(output_of(request, buffer)?, &config())?)
        }
        Ioctl::Flood => {
            let flood: FloodRequest = decode_request(input)?;
            if !settings::is_enabled(SourceId::Flood) {
                // A test switch, off unless `EnableFlood` = 1 in Parameters.
                return Err(Failure::Status(STATUS_NOT_SUPPORTED));
            }
            let output = output_of(request, buffer)?;
            if output.len() < size_of::<FloodResponse>() {
                return Err(RequestError::TooSmall.into());
            }
            Ok(write_response(output, &self::flood(flood.count))?)
        }
        Ioctl::Notify => {
            let notify: NotifyRequest = decode_request(input)?;
            match crate::registrations::callback_objects::notify_own(notify.argument1, notify.argument2) {
                None => Err(Failure::Status(STATUS_NOT_SUPPORTED)),
                Some(Err(status)) => Err(Failure::Status(status)),
                Some(Ok(())) => Ok(0),
            }
        }
        Ioctl::QueryCost => {
            let _: kcb_proto::QueryCostRequest = decode_request(input)?;
            Ok(crate::pipeline::cost::write_response(output_of(
                request, buffer,
            )?)?)
        }
        Ioctl::ListCallbackObjects => {
            let _: ListCallbackObjectsRequest = decode_request(input)?;
            Ok(crate::registrations::callback_map::write_map(output_of(
                request, buffer,
            )?)?)
        }
        Ioctl::ListRegistrations => {
            let _: ListRegistrationsRequest = decode_request(input)?;
            if !settings::registration_walk() {
                // Opt-in: `EnableRegistrationWalk` = 1 in Parameters.
                return Err(Failure::Status(STATUS_NOT_SUPPORTED));
            }
            Ok(crate::registrations::walker::write_registrations(output_of(
                request, buffer,
            )?)?)
        }
    }
}

fn output_of<'a>(request: &Request, buffer: &'a mut [u8]) -> Result<&'a mut [u8], RequestError> {
    buffer
        .get_mut(..request.output_length)
        .ok_or(RequestError::InvalidParameter)
}

/// `GET_REPORT`: the driver version and one entry per attempted registration.
fn report(output: &mut [u8]) -> Result<usize, RequestError> {
    const _: () = assert!(API_COUNT <= MAX_REPORT_ENTRIES);
    let mut entries = [ReportEntry::new("", RegistrationState::Registered, 0, 0); API_COUNT];
    let mut count = 0;
    for &api in Api::ALL {
        if let (Some(state), status, detail) = REPORT.get(api) {
            entries[count] = ReportEntry::new(api.name(), state, status, detail);
            count += 1;
        }
    }
    write_report(output, VERSION, &entries[..count])
}

/// `READ_EVENTS`: as many whole records as fit, each at its real size
/// (wire format v2). A record is taken from the client queue only when
/// it fits the room left, so none is lost or split: one that does not fit
/// stays queued for the next read, and the reply names its size
/// (`next_size`), so a caller whose buffer holds no record learns what it
/// needs.
fn read_events(output: &mut [u8], max_records: u32) -> Result<usize, RequestError> {
    let mut writer = ReadEventsWriter::new(output, max_records)?;
    let mut pending = 0_u32;
    let mut next_size = 0_u32;
    let set = rings::get();
    if let Some((set, mut consumer)) = set.and_then(|set| Some((set, set.client().consumer()?))) {
        let mut bytes = [0_u8; kcb_proto::RECORD_SIZE];
        while let Some(head) = consumer.peek() {
            // The drain stored the record's used prefix (its wire size); the
            // rest is zero.
            if !writer.fits(head.len) {
                next_size = u32::try_from(head.len).unwrap_or(u32::MAX);
                break;
            }
            let Some(Ok(_)) = consumer.pop(&mut bytes) else {
                break;
            };
            let record = EventRecord::from_prefix(&bytes[..head.len.min(bytes.len())]);
            bytes.fill(0);
            let stored = writer.push(&record);
            debug_assert!(stored, "room was checked");
        }
        // SAFETY: this thread holds the client queue's consumer role, so no
        // other consumer runs while the waiting records are counted.
        let waiting = unsafe { set.client().visit_unsynchronized(|_| {}) };
        pending = u32::try_from(waiting).unwrap_or(u32::MAX);
        drop(consumer);
    }
    let dropped_total = rings::totals().dropped;
    Ok(writer.finish(pending, dropped_total, next_size))
}

const _: () = assert!(SOURCE_COUNT <= kcb_proto::MAX_SOURCES);

/// Ring capacity and occupancy in bytes (all processor rings and the client
/// queue), for the stats and config replies.
fn ring_bytes() -> (u32, u32) {
    rings::get().map_or((0, 0), |set| {
        (
            u32::try_from(set.capacity_bytes()).unwrap_or(u32::MAX),
            u32::try_from(set.used_bytes()).unwrap_or(u32::MAX),
        )
    })
}

/// `GET_STATS`: per-source counters and ring occupancy.
fn stats() -> StatsResponse {
    let mut response = StatsResponse::new();
    let counters = rings::counters();
    for (slot, counter) in response.sources.iter_mut().zip(counters.iter()) {
        *slot = SourceStats {
            seen: counter.seen,
            recorded: counter.recorded,
            dropped: counter.dropped,
        };
    }
    let totals = rings::totals();
    response.total_seen = totals.seen;
    response.total_dropped = totals.dropped;
    (response.ring_capacity, response.ring_occupancy) = ring_bytes();
    response
}

/// `GET_CONFIG`: the enabled sources and where each setting came from.
fn config() -> ConfigResponse {
    let mut response = ConfigResponse::new();
    let settings = settings::get();
    response.enabled_mask = settings.enabled_mask;
    response.ring_capacity = ring_bytes().0;
    for source in SourceId::ALL {
        response.origins[source.index()] = settings.origins[source.index()] as u8;
    }
    response
}

/// `FLOOD`: pushes `count` records through the same path as a notify
/// routine, so a burst larger than the ring shows the drop accounting.
fn flood(count: u32) -> FloodResponse {
    let total = u64::from(count);
    let mut response = FloodResponse {
        requested: count,
        ..FloodResponse::default()
    };
    for index in 0..total {
        let record = EventRecord::build(kind::NONE, |payload: &mut FloodPayload| {
            payload.index = index;
            payload.total = total;
            payload.checksum = flood_checksum(index, total);
        });
        if events::record(record) {
            response.recorded += 1;
        } else {
            response.dropped += 1;
        }
    }
    response
}
