//! `kcbctl status --json`: the same sections as the text form, as one JSON
//! object on one line. A section the driver cannot provide is `null` and
//! its error is under `"errors"`.

use std::fmt::Write as _;
use std::io::Write;

use kcb_proto::{Ioctl, PROTOCOL_VERSION, SourceId, decode_report, write_json_string};

use crate::fetch::{decode, fetch_config, fetch_report, fetch_stats, is_fatal};
use crate::service::{SERVICE_NAME, ServiceState};
use crate::{Driver, Error, cost};

fn string(out: &mut String, text: &str) {
    let _ = write_json_string(out, text.chars());
}

fn registrations(reply: &[u8]) -> Result<String, Error> {
    let report = decode(Ioctl::GetReport, decode_report(reply))?;
    let mut out = String::from("{\"driver_version\":");
    string(&mut out, report.header.driver_version_str());
    let _ = write!(out, ",\"protocol\":{PROTOCOL_VERSION},\"entries\":[");
    for (i, entry) in report.entries.iter().enumerate() {
        if i != 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        string(&mut out, entry.name_str());
        out.push_str(",\"state\":");
        let state = entry
            .state()
            .map_or_else(|| format!("state?{}", entry.state), |s| s.name().to_owned());
        string(&mut out, &state);
        let _ = write!(
            out,
            ",\"status\":\"0x{:08X}\",\"detail\":{}}}",
            entry.status.cast_unsigned(),
            entry.detail
        );
    }
    out.push_str("]}");
    Ok(out)
}

fn counters(driver: &mut dyn Driver) -> Result<String, Error> {
    let stats = fetch_stats(driver)?;
    let mut out = String::from("{\"sources\":[");
    let mut first = true;
    for (source, st) in SourceId::ALL.into_iter().zip(stats.sources) {
        if st.seen == 0 && st.recorded == 0 && st.dropped == 0 {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        let _ = write!(
            out,
            "{{\"source\":\"{}\",\"seen\":{},\"recorded\":{},\"dropped\":{}}}",
            source.name(),
            st.seen,
            st.recorded,
            st.dropped
        );
    }
    let _ = write!(
        out,
        "],\"total_seen\":{},\"total_dropped\":{},\"ring_capacity\":{},\"ring_occupancy\":{}}}",
        stats.total_seen, stats.total_dropped, stats.ring_capacity, stats.ring_occupancy
    );
    Ok(out)
}

fn configuration(driver: &mut dyn Driver) -> Result<String, Error> {
    let config = fetch_config(driver)?;
    let mut out = String::from("{\"enabled\":[");
    let enabled: Vec<String> = SourceId::ALL
        .into_iter()
        .filter(|s| config.is_enabled(*s))
        .map(|s| format!("\"{}\"", s.name()))
        .collect();
    out.push_str(&enabled.join(","));
    let _ = write!(out, "],\"ring_capacity\":{}}}", config.ring_capacity);
    Ok(out)
}

fn cost_section(driver: &mut dyn Driver) -> Result<String, Error> {
    let response = cost::fetch(driver)?;
    let mut out = String::new();
    cost::write_json(&response, &mut out);
    Ok(out)
}

/// `kcbctl status --json`.
///
/// # Errors
/// As [`crate::status`]: [`Error::Incomplete`] naming the sections that
/// are `null` (the object is printed first), or a fatal driver error
/// (nothing printed).
pub fn status_json(
    driver: &mut dyn Driver,
    service: &ServiceState,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let report = match fetch_report(driver) {
        Err(error) if is_fatal(&error) => return Err(error),
        other => other,
    };
    let sections: [(&'static str, Result<String, Error>); 4] = [
        ("registrations", report.and_then(|reply| registrations(&reply))),
        ("counters", counters(driver)),
        ("cost", cost_section(driver)),
        ("configuration", configuration(driver)),
    ];
    let mut json = format!("{{\"service\":{{\"name\":\"{SERVICE_NAME}\",\"state\":");
    string(&mut json, service.name());
    if let ServiceState::Unavailable(why) = service {
        json.push_str(",\"error\":");
        string(&mut json, why);
    }
    json.push_str("},");
    let mut failed = Vec::new();
    let mut errors = String::new();
    for (i, (name, result)) in sections.into_iter().enumerate() {
        if i != 0 {
            json.push(',');
        }
        let _ = write!(json, "\"{name}\":");
        match result {
            Ok(value) => json.push_str(&value),
            Err(error) if is_fatal(&error) => return Err(error),
            Err(error) => {
                json.push_str("null");
                if !errors.is_empty() {
                    errors.push(',');
                }
                let _ = write!(errors, "\"{name}\":");
                string(&mut errors, &error.to_string());
                failed.push(name);
            }
        }
    }
    let _ = write!(json, ",\"errors\":{{{errors}}}}}");
    writeln!(out, "{json}")?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Incomplete(failed))
    }
}
