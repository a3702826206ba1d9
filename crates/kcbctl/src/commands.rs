//! The commands, written against [`Driver`] and [`Console`].

use std::fmt::Write as _;
use std::io::Write;
use std::mem::size_of;

use kcb_proto::{
    CallbackObjectEntry, CallbackObjectListHeader, ConfigOrigin, ConfigResponse, EventRecord, FloodRequest,
    FloodResponse, Ioctl, ListCallbackObjectsRequest, MAX_CALLBACK_OBJECTS, NotifyRequest, PROTOCOL_VERSION,
    ReadEventsRequest, RegistrationState, Report, SourceId, SourceStats, StatsResponse, bytes_of,
    decode_callback_objects, decode_read_events, decode_report, decode_response, read_events_buffer_size,
    report_detail, write_json, write_text,
};
use kcb_proto::{
    ListRegistrationsRequest, REGISTRATION_BUFFER_SIZE, RegistrationEntry, decode_registrations,
    layout_check, registration_status,
};

use crate::dump::decode_dump;
use crate::fetch::{decode, fetch_config, fetch_report, fetch_stats, is_fatal};
use crate::filter::{EventFilter, FilterState};
use crate::service::{SERVICE_NAME, ServiceState};
use crate::{Console, Driver, Error};

/// Records asked for per `READ_EVENTS` request.
pub const EVENTS_PER_READ: u32 = 64;

/// Output buffer offered to `IOCTL_KCB_NOTIFY` (the protocol defines no
/// reply; whatever the driver writes is shown).
pub const NOTIFY_OUTPUT_LEN: usize = 64;

/// Output buffer that holds a full callback-object list.
const CALLBACK_LIST_BUFFER_SIZE: usize =
    size_of::<CallbackObjectListHeader>() + MAX_CALLBACK_OBJECTS * size_of::<CallbackObjectEntry>();

/// Replaces control characters (which could drive the terminal) with
/// `\xNN` escapes.
fn printable(chars: impl Iterator<Item = char>) -> String {
    let mut s = String::new();
    for c in chars {
        if c.is_control() {
            let _ = write!(s, "\\x{:02x}", u32::from(c));
        } else {
            s.push(c);
        }
    }
    s
}

fn print_report_entries(report: &Report<'_>, out: &mut dyn Write) -> Result<(), Error> {
    let header = report.header;
    for entry in report.entries.iter() {
        let state = entry
            .state()
            .map_or_else(|| format!("state?{}", entry.state), |s| s.name().to_owned());
        write!(
            out,
            "  {:<48} {:<13} status=0x{:08X}",
            printable(entry.name_str().chars()),
            state,
            entry.status.cast_unsigned()
        )?;
        match report_detail::describe(entry.detail) {
            Some("") => {}
            Some(text) => write!(out, " ({text})")?,
            None => write!(out, " detail={:#x}", entry.detail)?,
        }
        writeln!(out)?;
    }
    let missing = header.entry_count.saturating_sub(header.returned);
    if missing != 0 {
        writeln!(out, "  ({missing} more entries not returned)")?;
    }
    writeln!(
        out,
        "{} registered, {} failed, {} disabled ({} entries)",
        header.registered, header.failed, header.disabled, header.entry_count
    )?;
    Ok(())
}

/// `kcbctl report`: prints the registration report.
///
/// # Errors
/// Driver, decoding or output errors.
pub fn report(driver: &mut dyn Driver, out: &mut dyn Write) -> Result<(), Error> {
    print_report(
        &fetch_report(driver)?,
        |version| format!("kcallbacks {version}"),
        out,
    )
}

/// Decodes the `GET_REPORT` reply and prints it under a first line that
/// `heading` makes of the driver version.
fn print_report(
    reply: &[u8],
    heading: impl FnOnce(&str) -> String,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let report = decode(Ioctl::GetReport, decode_report(reply))?;
    let version = printable(report.header.driver_version_str().chars());
    writeln!(out, "{}", heading(&version))?;
    print_report_entries(&report, out)
}

const fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn print_stats(
    stats: &StatsResponse,
    config: Option<&ConfigResponse>,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let enabled = |s: SourceId| config.map(|c| c.is_enabled(s));
    let rows: Vec<(SourceId, SourceStats)> = SourceId::ALL
        .into_iter()
        .zip(stats.sources)
        .filter(|(s, st)| st.seen != 0 || st.recorded != 0 || st.dropped != 0 || enabled(*s) == Some(true))
        .collect();
    if rows.is_empty() {
        writeln!(out, "  no source is enabled or has seen an event")?;
    } else {
        writeln!(
            out,
            "  {:<20} {:<7} {:>12} {:>12} {:>12}",
            "source", "enabled", "seen", "recorded", "dropped"
        )?;
        for (source, st) in &rows {
            let on = enabled(*source).map_or("?", yes_no);
            writeln!(
                out,
                "  {:<20} {:<7} {:>12} {:>12} {:>12}",
                source.name(),
                on,
                st.seen,
                st.recorded,
                st.dropped
            )?;
        }
    }
    let recorded: u64 = stats
        .sources
        .iter()
        .fold(0u64, |sum, s| sum.saturating_add(s.recorded));
    writeln!(
        out,
        "  {:<20} {:<7} {:>12} {:>12} {:>12}",
        "total", "", stats.total_seen, recorded, stats.total_dropped
    )?;
    let percent = if stats.ring_capacity == 0 {
        0
    } else {
        u64::from(stats.ring_occupancy) * 100 / u64::from(stats.ring_capacity)
    };
    writeln!(
        out,
        "  rings: {} of {} bytes in use ({percent}%)",
        stats.ring_occupancy, stats.ring_capacity
    )?;
    Ok(())
}

fn origin_name(config: &ConfigResponse, source: SourceId) -> String {
    config.origin(source).map_or_else(
        || format!("unknown({})", config.origins[source.index()]),
        |o| o.name().to_owned(),
    )
}

fn print_config(config: &ConfigResponse, out: &mut dyn Write) -> Result<(), Error> {
    let enabled: Vec<&str> = SourceId::ALL
        .into_iter()
        .filter(|s| config.is_enabled(*s))
        .map(SourceId::name)
        .collect();
    if enabled.is_empty() {
        writeln!(out, "  enabled sources: none")?;
    } else {
        writeln!(out, "  enabled sources: {}", enabled.join(", "))?;
    }
    writeln!(out, "  {:<20} {:<7} origin", "source", "enabled")?;
    let mut others = 0;
    for source in SourceId::ALL {
        let on = config.is_enabled(source);
        if !on && config.origin(source) == Some(ConfigOrigin::Default) {
            others += 1;
            continue;
        }
        writeln!(
            out,
            "  {:<20} {:<7} {}",
            source.name(),
            yes_no(on),
            origin_name(config, source)
        )?;
    }
    if others != 0 {
        writeln!(out, "  ({others} other sources disabled by default)")?;
    }
    writeln!(
        out,
        "  ring capacity: {} bytes, flags: {:#010x}",
        config.ring_capacity, config.flags
    )?;
    Ok(())
}

/// Runs `section`, printing its error inline (and remembering its name)
/// unless the error is fatal.
fn section(
    name: &'static str,
    out: &mut dyn Write,
    failed: &mut Vec<&'static str>,
    body: impl FnOnce(&mut dyn Write) -> Result<(), Error>,
) -> Result<(), Error> {
    match body(out) {
        Ok(()) => Ok(()),
        Err(error) if is_fatal(&error) => Err(error),
        Err(error) => {
            writeln!(out, "  unavailable: {error}")?;
            failed.push(name);
            Ok(())
        }
    }
}

/// `kcbctl status`: registrations, counters, cost and configuration.
///
/// The counters are per source, the cost is the time inside the notify
/// routines; `json` prints all as one JSON object. A section the driver
/// cannot provide is shown as unavailable and the others are still printed.
///
/// The `service` state (from the Service Control Manager) comes first; when
/// the driver cannot be reached it is written to `err` (stdout stays empty).
///
/// # Errors
/// [`Error::Incomplete`] naming the unavailable sections, or a driver
/// error that stops everything (not loaded, access denied, output).
pub fn status(
    driver: &mut dyn Driver,
    json: bool,
    service: &ServiceState,
    console: &mut Console<'_>,
) -> Result<(), Error> {
    let result = status_sections(driver, json, service, console.out);
    if let Err(error) = &result
        && is_fatal(error)
    {
        writeln!(console.err, "kcbctl: service {SERVICE_NAME}: {service}")?;
    }
    result
}

fn status_sections(
    driver: &mut dyn Driver,
    json: bool,
    service: &ServiceState,
    out: &mut dyn Write,
) -> Result<(), Error> {
    if json {
        return crate::status_json::status_json(driver, service, out);
    }
    let mut failed = Vec::new();

    // Nothing is printed when the first request shows the driver is absent.
    let report = match fetch_report(driver) {
        Err(error) if is_fatal(&error) => return Err(error),
        other => other,
    };
    writeln!(out, "Service\n  {SERVICE_NAME}: {service}\n")?;
    writeln!(out, "Registrations")?;
    section("registrations", out, &mut failed, |out| {
        print_report(
            &report?,
            |version| format!("  driver version {version}, protocol {PROTOCOL_VERSION}"),
            out,
        )
    })?;

    // The configuration tells which sources are enabled; the counters table
    // uses it, so ask for it first but print it last.
    let config = fetch_config(driver);
    if let Err(error) = &config
        && is_fatal(error)
    {
        return config.map(|_| ());
    }

    writeln!(out, "\nCounters (sources enabled or with activity)")?;
    section("counters", out, &mut failed, |out| {
        let stats = fetch_stats(driver)?;
        print_stats(&stats, config.as_ref().ok(), out)
    })?;

    writeln!(out, "\nCost (time inside the notify routines)")?;
    section("cost", out, &mut failed, |out| {
        let cost = crate::cost::fetch(driver)?;
        crate::cost::print_text(&cost, out)
    })?;

    writeln!(out, "\nConfiguration")?;
    section("configuration", out, &mut failed, |out| match config {
        Ok(config) => print_config(&config, out),
        Err(error) => Err(error),
    })?;

    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Incomplete(failed))
    }
}

/// One record as a line (with `\n`).
fn format_record(record: &EventRecord, json: bool, line: &mut String) {
    line.clear();
    // Writing into a String cannot fail.
    let _ = if json {
        write_json(record, line)
    } else {
        write_text(record, line)
    };
    line.push('\n');
}

/// `kcbctl events`: reads events and prints one line per event.
///
/// Without `follow`, reads until the driver returns no record; with it,
/// polls until [`Console::stop`] is set (flushing after every line). Only
/// records `filter` keeps are printed; once its `count` is reached, no more
/// are read. Drops reported by the driver and
/// invalid records are reported on `err`.
///
/// # Errors
/// Driver, decoding or output errors; [`Error::InvalidRecords`] at the end
/// if some records were skipped.
pub fn events(
    driver: &mut dyn Driver,
    json: bool,
    follow: bool,
    filter: &EventFilter,
    console: &mut Console<'_>,
) -> Result<(), Error> {
    let mut filter = FilterState::new(filter);
    let request = ReadEventsRequest::new(EVENTS_PER_READ);
    let output_len = read_events_buffer_size(EVENTS_PER_READ as usize);
    let mut last_dropped = 0u64;
    let (mut total, mut invalid) = (0usize, 0usize);
    let mut text = String::new();
    let mut line = String::new();
    while !console.stopped() && !filter.done() {
        let reply = driver.control(Ioctl::ReadEvents, bytes_of(&request), output_len)?;
        let batch = decode(Ioctl::ReadEvents, decode_read_events(&reply))?;
        text.clear();
        for (i, record) in batch.records().enumerate() {
            total += 1;
            match record {
                Ok(record) if filter.admit(&record) => {
                    format_record(&record, json, &mut line);
                    text.push_str(&line);
                    if follow {
                        // Whoever reads the output (a file, a pipe) sees each event at once.
                        console.out.write_all(text.as_bytes())?;
                        console.out.flush()?;
                        text.clear();
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    invalid += 1;
                    writeln!(
                        console.err,
                        "kcbctl: skipping invalid record {i} of a batch: {error}"
                    )?;
                }
            }
        }
        console.out.write_all(text.as_bytes())?;
        console.out.flush()?;
        let dropped = batch.header.dropped_total;
        if dropped > last_dropped {
            writeln!(
                console.err,
                "kcbctl: the driver has dropped {dropped} events so far (ring full or contention)"
            )?;
            last_dropped = dropped;
        }
        if batch.is_empty() && !follow {
            break;
        }
        if follow && batch.len() < EVENTS_PER_READ as usize {
            console.pause();
        }
    }
    if invalid == 0 {
        Ok(())
    } else {
        Err(Error::InvalidRecords { invalid, total })
    }
}

/// `kcbctl notify`: `ExNotifyCallback` on the driver's callback object.
///
/// # Errors
/// Driver or output errors.
pub fn notify(
    driver: &mut dyn Driver,
    argument1: u64,
    argument2: u64,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let request = NotifyRequest::new(argument1, argument2);
    let reply = driver.control(Ioctl::Notify, bytes_of(&request), NOTIFY_OUTPUT_LEN)?;
    writeln!(
        out,
        "notify: the driver called ExNotifyCallback(argument1={argument1:#x}, argument2={argument2:#x})"
    )?;
    if reply.is_empty() {
        writeln!(out, "notify: success, no data returned")?;
    } else {
        let mut hex = String::with_capacity(reply.len() * 2);
        for b in &reply {
            let _ = write!(hex, "{b:02x}");
        }
        writeln!(out, "notify: success, {} bytes returned: {hex}", reply.len())?;
    }
    Ok(())
}

/// `kcbctl flood`: asks the driver to push `count` synthetic records.
///
/// # Errors
/// Driver, decoding or output errors (the driver refuses unless the
/// `EnableFlood` test switch is set).
pub fn flood(driver: &mut dyn Driver, count: u32, console: &mut Console<'_>) -> Result<(), Error> {
    let reply = driver.control(
        Ioctl::Flood,
        bytes_of(&FloodRequest::new(count)),
        size_of::<FloodResponse>(),
    )?;
    let response = decode(Ioctl::Flood, decode_response::<FloodResponse>(&reply))?;
    writeln!(
        console.out,
        "flood: requested {}, recorded {}, dropped {}",
        response.requested, response.recorded, response.dropped
    )?;
    if response.requested != count {
        writeln!(
            console.err,
            "kcbctl: warning: asked for {count} records, the driver reports {} requested",
            response.requested
        )?;
    }
    if u64::from(response.recorded) + u64::from(response.dropped) != u64::from(response.requested) {
        writeln!(
            console.err,
            "kcbctl: warning: recorded + dropped != requested in the driver's reply"
        )?;
    }
    Ok(())
}

/// `kcbctl callbacks`: the named callback objects the driver observes.
///
/// The driver lists every object of the `\Callback` directory plus its
/// catalog, with, per object, the observer the driver attached with
/// `ExRegisterCallback` (catalog objects only): its state, NTSTATUS and
/// firing count. With `registrations`, it then prints every routine
/// registered on each object (`IOCTL_KCB_LIST_REGISTRATIONS`, which the
/// driver serves only with `EnableRegistrationWalk` = 1): object, whether
/// it allows multiple callbacks, routine as `module!offset`. A driver that
/// does not serve it leaves the object table only (noted on `err`).
///
/// # Errors
/// Driver, decoding or output errors.
pub fn callbacks(
    driver: &mut dyn Driver,
    registrations: bool,
    console: &mut Console<'_>,
) -> Result<(), Error> {
    let reply = driver.control(
        Ioctl::ListCallbackObjects,
        bytes_of(&ListCallbackObjectsRequest::new()),
        CALLBACK_LIST_BUFFER_SIZE,
    )?;
    let list = decode(Ioctl::ListCallbackObjects, decode_callback_objects(&reply))?;
    let out = &mut *console.out;
    if list.entries.is_empty() {
        writeln!(out, "no callback objects")?;
    } else {
        writeln!(
            out,
            "{:>5}  {:<44} {:<8} {:<13} {:<10} {:>10}",
            "index", "object", "observer", "state", "status", "fired"
        )?;
        for entry in list.entries.iter() {
            let mut name = printable(entry.name.chars());
            if entry.name.is_truncated() {
                name.push_str("...");
            }
            let index = if entry.index == u32::MAX {
                "-".to_owned()
            } else {
                entry.index.to_string()
            };
            // State 0: an object the driver lists but does not observe.
            let (observer, state, status) = match (entry.state, entry.state()) {
                (0, _) => ("-", "not-observed".to_owned(), "-".to_owned()),
                (_, Some(state)) => (
                    if state == RegistrationState::Registered {
                        "attached"
                    } else {
                        "-"
                    },
                    state.name().to_owned(),
                    format!("0x{:08X}", entry.status.cast_unsigned()),
                ),
                (raw, None) => (
                    "?",
                    format!("state?{raw}"),
                    format!("0x{:08X}", entry.status.cast_unsigned()),
                ),
            };
            writeln!(
                out,
                "{index:>5}  {name:<44} {observer:<8} {state:<13} {status:<10} {:>10}",
                entry.fired
            )?;
        }
    }
    let missing = list.header.count.saturating_sub(list.header.returned);
    if missing != 0 {
        writeln!(out, "({missing} more objects not returned)")?;
    }
    if registrations {
        print_registrations(driver, console)?;
    }
    Ok(())
}

/// How one [`RegistrationEntry`] shows its routine.
fn routine_text(entry: &RegistrationEntry) -> String {
    match entry.status {
        registration_status::IN_MODULE => {
            format!("{}!{:#x}", printable(entry.module_str().chars()), entry.offset)
        }
        registration_status::NO_MODULE => format!("{:#x} (in no loaded module)", entry.routine),
        registration_status::MODULES_UNAVAILABLE => {
            format!("{:#x} (module list unavailable)", entry.routine)
        }
        registration_status::NO_REGISTRATIONS => "-".to_owned(),
        registration_status::LAYOUT_NOT_RECOGNISED => format!(
            "layout not recognised ({})",
            layout_check::describe(entry.detail).unwrap_or("unknown check")
        ),
        registration_status::OBJECT_UNAVAILABLE => {
            format!("object unavailable (status 0x{:08X})", entry.detail)
        }
        registration_status::BUILD_NOT_VERIFIED => format!(
            "refused: the layout was not verified on Windows build {} (nothing read)",
            entry.detail
        ),
        other => format!("status?{other}"),
    }
}

/// The registrations table of `callbacks --registrations`.
fn print_registrations(driver: &mut dyn Driver, console: &mut Console<'_>) -> Result<(), Error> {
    let reply = match driver.control(
        Ioctl::ListRegistrations,
        bytes_of(&ListRegistrationsRequest::new()),
        REGISTRATION_BUFFER_SIZE,
    ) {
        Ok(reply) => reply,
        Err(error) if is_fatal(&error) => return Err(error),
        Err(error) => {
            writeln!(
                console.err,
                "kcbctl: the driver does not list the registrations ({error}; it needs \
                 EnableRegistrationWalk = 1 in Parameters); showing the object table only"
            )?;
            return Ok(());
        }
    };
    let list = decode(Ioctl::ListRegistrations, decode_registrations(&reply))?;
    let out = &mut *console.out;
    writeln!(out)?;
    writeln!(out, "{:<44} {:<8} routine (module!offset)", "object", "multiple")?;
    let mut previous = None;
    for entry in list.entries.iter() {
        let (name, multiple) = if previous == Some(entry.object_index) {
            (String::new(), "")
        } else {
            let mut name = printable(entry.object.chars());
            if entry.object.is_truncated() {
                name.push_str("...");
            }
            let multiple = match entry.allow_multiple {
                0 => "no [x]",
                1 => "yes",
                _ => "?",
            };
            (name, multiple)
        };
        previous = Some(entry.object_index);
        writeln!(out, "{name:<44} {multiple:<8} {}", routine_text(&entry))?;
    }
    let missing = list.header.count.saturating_sub(list.header.returned);
    if missing != 0 {
        writeln!(out, "({missing} more entries not returned)")?;
    }
    writeln!(
        out,
        "{} objects walked; [x]: allows a single callback",
        list.header.objects
    )?;
    Ok(())
}

/// `kcbctl decode-dump` without filters: prints every event of a
/// flight-recorder blob (see [`decode_dump_filtered`]).
///
/// # Errors
/// As [`decode_dump_filtered`].
pub fn decode_dump_bytes(bytes: &[u8], json: bool, console: &mut Console<'_>) -> Result<(), Error> {
    decode_dump_filtered(bytes, json, &EventFilter::default(), console)
}

/// `kcbctl decode-dump`: prints the events of a flight-recorder blob.
///
/// Only the records `filter` keeps are printed, as by `events` (see
/// [`crate::dump`] for the blob); the summary and every invalid record,
/// filtered or not, go to `err`.
///
/// # Errors
/// [`Error::Dump`] if the blob is malformed, [`Error::InvalidRecords`]
/// (after printing the valid ones) if some records are invalid, output
/// errors.
pub fn decode_dump_filtered(
    bytes: &[u8],
    json: bool,
    filter: &EventFilter,
    console: &mut Console<'_>,
) -> Result<(), Error> {
    let dump = decode_dump(bytes)?;
    let filtering = *filter != EventFilter::default();
    let mut filter = FilterState::new(filter);
    let mut printed = 0_usize;
    let mut line = String::new();
    for slot in &dump.slots {
        match &slot.record {
            Ok(record) => {
                if filter.admit(record) {
                    format_record(record, json, &mut line);
                    console.out.write_all(line.as_bytes())?;
                    printed += 1;
                }
            }
            Err(error) => writeln!(
                console.err,
                "kcbctl: record {} (offset {}): {error}; skipped",
                slot.index, slot.offset
            )?,
        }
    }
    let invalid = dump.invalid_count();
    let valid = dump.slots.len() - invalid;
    write!(
        console.err,
        "kcbctl: {valid} record{}{}",
        if valid == 1 { "" } else { "s" },
        if dump.has_header {
            ""
        } else {
            " (blob without header)"
        }
    )?;
    if filtering {
        write!(console.err, ", {printed} kept by the filters")?;
    }
    if invalid != 0 {
        write!(console.err, ", {invalid} invalid")?;
    }
    writeln!(console.err)?;
    if invalid == 0 {
        Ok(())
    } else {
        Err(Error::InvalidRecords {
            invalid,
            total: dump.slots.len(),
        })
    }
}
