//! Host tests: the commands against a fake driver whose replies are built
//! with kcb-proto's driver-side writers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kcb_proto::{
    CallbackObjectEntry, ConfigOrigin, ConfigResponse, EventRecord, FloodRequest, FloodResponse,
    GetConfigRequest, GetReportRequest, GetStatsRequest, ImageLoadPayload, Ioctl, ListCallbackObjectsRequest,
    ListRegistrationsRequest, NotifyRequest, ProcessPayload, RECORD_SIZE, ReadEventsRequest,
    ReadEventsWriter, RegistrationState, ReportEntry, Request, SourceId, StatsResponse, WStr, bytes_of,
    decode_request, kind, write_callback_objects, write_json, write_report, write_response, write_text,
};
use serde_json::Value;

use crate::dump::{DumpError, decode_dump, encode_dump};
use crate::{Command, Console, Driver, Error, EventsOptions, parse_args, run};
use kcb_proto::flight::{FLIGHT_HEADER_SIZE, decode_flight};

// ---------------------------------------------------------------------------
// Fake driver
// ---------------------------------------------------------------------------

type Reply = Result<Vec<u8>, Error>;

/// Answers each IOCTL from its own queue of canned replies (the last reply
/// of a queue repeats), after checking the request the way the driver does.
#[derive(Default)]
struct FakeDriver<'a> {
    replies: Vec<(Ioctl, VecDeque<Reply>)>,
    calls: Vec<(Ioctl, Vec<u8>, usize)>,
    /// Set after this many calls (to end `--follow`).
    stop_after: Option<(usize, &'a AtomicBool)>,
}

fn clone_reply(reply: &Reply) -> Reply {
    match reply {
        Ok(bytes) => Ok(bytes.clone()),
        Err(Error::Request { ioctl, code }) => Err(Error::Request {
            ioctl: *ioctl,
            code: *code,
        }),
        Err(Error::NotLoaded) => Err(Error::NotLoaded),
        Err(Error::AccessDenied) => Err(Error::AccessDenied),
        Err(other) => panic!("cannot repeat {other:?}"),
    }
}

fn check_request<T: Request>(input: &[u8]) {
    if let Err(e) = decode_request::<T>(input) {
        panic!("the driver would refuse this {}: {e}", T::IOCTL.name());
    }
}

impl FakeDriver<'_> {
    fn new() -> Self {
        Self::default()
    }

    fn reply(mut self, ioctl: Ioctl, reply: Reply) -> Self {
        match self.replies.iter_mut().find(|(i, _)| *i == ioctl) {
            Some((_, queue)) => queue.push_back(reply),
            None => self.replies.push((ioctl, VecDeque::from([reply]))),
        }
        self
    }

    fn fail(self, ioctl: Ioctl, code: u32) -> Self {
        self.reply(ioctl, Err(Error::Request { ioctl, code }))
    }

    fn count(&self, ioctl: Ioctl) -> usize {
        self.calls.iter().filter(|(i, _, _)| *i == ioctl).count()
    }
}

impl Driver for FakeDriver<'_> {
    fn control(&mut self, ioctl: Ioctl, input: &[u8], output_len: usize) -> Result<Vec<u8>, Error> {
        self.calls.push((ioctl, input.to_vec(), output_len));
        if let Some((n, stop)) = self.stop_after
            && self.calls.len() >= n
        {
            stop.store(true, Ordering::Relaxed);
        }
        match ioctl {
            Ioctl::GetReport => check_request::<GetReportRequest>(input),
            Ioctl::ReadEvents => check_request::<ReadEventsRequest>(input),
            Ioctl::GetStats => check_request::<GetStatsRequest>(input),
            Ioctl::GetConfig => check_request::<GetConfigRequest>(input),
            Ioctl::Notify => check_request::<NotifyRequest>(input),
            Ioctl::ListCallbackObjects => check_request::<ListCallbackObjectsRequest>(input),
            Ioctl::Flood => check_request::<FloodRequest>(input),
            Ioctl::ListRegistrations => check_request::<ListRegistrationsRequest>(input),
            Ioctl::QueryCost => check_request::<kcb_proto::QueryCostRequest>(input),
        }
        let Some((_, queue)) = self.replies.iter_mut().find(|(i, _)| *i == ioctl) else {
            panic!("no canned reply for {}", ioctl.name());
        };
        let reply = if queue.len() > 1 {
            queue.pop_front().unwrap()
        } else {
            clone_reply(queue.front().unwrap())
        };
        if let Ok(bytes) = &reply {
            assert!(
                bytes.len() <= output_len,
                "{}: reply of {} bytes for a {output_len}-byte buffer",
                ioctl.name(),
                bytes.len()
            );
        }
        reply
    }
}

/// Runs `command`; returns (result, stdout, stderr).
fn run_with(
    command: &Command,
    driver: &mut dyn Driver,
    stop: &AtomicBool,
) -> (Result<(), Error>, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let result = {
        let mut console = Console {
            out: &mut out,
            err: &mut err,
            stop,
            poll_interval: Duration::ZERO,
        };
        run(command, driver, &mut console)
    };
    (
        result,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn run_cmd(command: &Command, driver: &mut dyn Driver) -> (Result<(), Error>, String, String) {
    run_with(command, driver, &AtomicBool::new(false))
}

fn args(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

// ---------------------------------------------------------------------------
// Canned replies
// ---------------------------------------------------------------------------

fn report_reply() -> Vec<u8> {
    let entries = [
        ReportEntry::new(
            "PsSetLoadImageNotifyRoutineEx",
            RegistrationState::Registered,
            0,
            0,
        ),
        ReportEntry::new(
            "CmRegisterCallbackEx",
            RegistrationState::Failed,
            0xC000_0022_u32.cast_signed(),
            0,
        ),
        ReportEntry::new(
            "ObRegisterCallbacks",
            RegistrationState::DisabledByConfig,
            0,
            320_000,
        ),
        ReportEntry::new(
            r"ExRegisterCallback(\Callback\ProcessorAdd)",
            RegistrationState::Failed,
            0xC000_0022_u32.cast_signed(),
            kcb_proto::report_detail::SINGLE_CALLBACK_TAKEN,
        ),
    ];
    let mut out = vec![0u8; kcb_proto::REPORT_BUFFER_SIZE];
    let n = write_report(&mut out, "0.1.0", &entries).unwrap();
    out.truncate(n);
    out
}

fn image_load(seq: u64, name: &str) -> EventRecord {
    let mut rec = EventRecord::build::<ImageLoadPayload>(kind::NONE, |p| {
        p.image_base = 0xFFFF_F800_0000_0000;
        p.image_size = 0x1000;
        p.name.set_from_str(name);
    });
    rec.header.sequence = seq;
    rec.header.timestamp = 133_594_560_000_000_000;
    rec.header.pid = 4;
    rec.header.tid = 8;
    rec
}

fn process_create(seq: u64, image: &str, cmdline: &str) -> EventRecord {
    let mut rec = EventRecord::build::<ProcessPayload>(kind::CREATE, |p| {
        p.parent_pid = 1;
        p.exit_status = -1;
        p.image_name.set_from_str(image);
        p.command_line.set_from_str(cmdline);
    });
    rec.header.sequence = seq;
    rec
}

/// Records whose strings exercise every escaping path.
fn tricky_records() -> Vec<EventRecord> {
    let mut surrogate = image_load(3, "");
    surrogate.payload_mut::<ImageLoadPayload>().unwrap().name =
        WStr::from_utf16(&[u16::from(b'a'), 0xD800, u16::from(b'b')]);
    surrogate.update_truncated_flag();
    vec![
        image_load(1, r"C:\Windows\System32\drivers\a b.sys"),
        process_create(
            2,
            "\"quoted\"\\back\\slash",
            "tab\there\nnewline\u{1}\u{7f}\u{2028}é😀",
        ),
        surrogate,
        image_load(4, &"x".repeat(300)), // truncated
        EventRecord::new(SourceId::Flood, 0),
    ]
}

fn events_reply(records: &[EventRecord], pending: u32, dropped: u64) -> Vec<u8> {
    let mut out = vec![0u8; kcb_proto::read_events_buffer_size(records.len())];
    let mut writer = ReadEventsWriter::new(&mut out, 0).unwrap();
    for r in records {
        assert!(writer.push(r));
    }
    let n = writer.finish(pending, dropped, 0);
    out.truncate(n);
    out
}

fn stats_reply() -> Vec<u8> {
    let mut stats = StatsResponse::new();
    stats.ring_capacity = 4096;
    stats.ring_occupancy = 1024;
    stats.sources[SourceId::LoadImage.index()].seen = 12;
    stats.sources[SourceId::LoadImage.index()].recorded = 10;
    stats.sources[SourceId::LoadImage.index()].dropped = 2;
    stats.sources[SourceId::Driver.index()].seen = 1;
    stats.sources[SourceId::Driver.index()].recorded = 1;
    stats.total_seen = 13;
    stats.total_dropped = 2;
    bytes_of(&stats).to_vec()
}

fn config_reply() -> Vec<u8> {
    let mut config = ConfigResponse::new();
    config.enabled_mask = SourceId::LoadImage.bit() | SourceId::ProcessCreate.bit();
    config.ring_capacity = 4096;
    config.origins[SourceId::ProcessCreate.index()] = ConfigOrigin::Registry as u8;
    config.origins[SourceId::Flood.index()] = ConfigOrigin::InvalidRegistryValue as u8;
    bytes_of(&config).to_vec()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

mod cli_tests;
mod cost_tests;
mod dump_tests;
mod errors_tests;
mod events_options_tests;
mod events_schema_tests;
mod events_tests;
mod help_and_dump_filter_tests;
mod objects_tests;
mod report_status_tests;
