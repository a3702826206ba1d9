//! The cost section of `kcbctl status`.
//!
//! The time the driver spends inside its notify routines
//! (`IOCTL_KCB_QUERY_COST`), per source: calls, p50, p99 and max in counter
//! ticks (processor cycles on x64) and in nanoseconds once the driver has
//! calibrated the counter.
//!
//! Percentiles come from log2 buckets: each is the upper bound of the
//! bucket that holds it (capped by the exact maximum), so the true value is
//! at most the figure shown and more than half of it.

use std::fmt::Write as _;
use std::io::Write;

use kcb_proto::{
    CostHistogram, CostResponse, QueryCostRequest, SourceId,
    cost::{COST_FLAG_MEASURING, COST_FLAG_TSC, ticks_to_ns},
    write_json_string,
};

use crate::fetch::fetch_response;
use crate::{Driver, Error};

/// What the percentile figures mean, printed under the table.
pub const RESOLUTION_NOTE: &str = "p50/p99: upper bound of the log2 bucket holding them (at most max); \
                                   the true value is between half of it and it";

/// Asks the driver for its cost histograms.
///
/// # Errors
/// The request's error, or [`Error::BadReply`] for a reply that does not
/// validate.
pub fn fetch(driver: &mut dyn Driver) -> Result<CostResponse, Error> {
    fetch_response(driver, &QueryCostRequest::new())
}

/// `cycles` for the time-stamp counter, `ticks` for the performance counter.
const fn unit(cost: &CostResponse) -> &'static str {
    if cost.header.flags & COST_FLAG_TSC == 0 {
        "ticks"
    } else {
        "cycles"
    }
}

const fn measuring(cost: &CostResponse) -> bool {
    cost.header.flags & COST_FLAG_MEASURING != 0
}

/// The sources with calls, in id order.
fn rows(cost: &CostResponse) -> impl Iterator<Item = (SourceId, &CostHistogram)> {
    SourceId::ALL
        .into_iter()
        .zip(cost.sources.iter())
        .filter(|(_, h)| h.calls() != 0)
}

/// `(p50, p99, max)` in ticks.
fn figures(histogram: &CostHistogram) -> (u64, u64, u64) {
    (
        histogram.percentile(50).unwrap_or(0),
        histogram.percentile(99).unwrap_or(0),
        histogram.max,
    )
}

fn ns_text(ticks: u64, hz: u64) -> String {
    ticks_to_ns(ticks, hz).map_or_else(|| "-".to_owned(), |ns| ns.to_string())
}

/// Prints the section's body (indented lines).
///
/// # Errors
/// Output errors.
pub fn print_text(cost: &CostResponse, out: &mut dyn Write) -> Result<(), Error> {
    let header = &cost.header;
    if !measuring(cost) {
        writeln!(
            out,
            "  not measured: the driver could not allocate its per-processor tables at load"
        )?;
        return Ok(());
    }
    let unit = unit(cost);
    let hz = header.counter_hz;
    #[allow(clippy::cast_precision_loss, reason = "a display value")]
    let frequency = if hz == 0 {
        "frequency not calibrated yet, ns unknown".to_owned()
    } else {
        format!(
            "{:.3} GHz calibrated against the performance counter",
            hz as f64 / 1e9
        )
    };
    let counter = if header.flags & COST_FLAG_TSC == 0 {
        "performance counter"
    } else {
        "TSC"
    };
    writeln!(
        out,
        "  counter: {counter} ({frequency}); {} processors; one measurement adds about {} {unit} ({} ns)",
        header.processor_count,
        header.overhead_ticks,
        ns_text(header.overhead_ticks, hz)
    )?;
    let mut any = false;
    for (source, histogram) in rows(cost) {
        if !any {
            writeln!(
                out,
                "  {:<20} {:>10} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}",
                "source",
                "calls",
                format!("p50 {unit}"),
                format!("p99 {unit}"),
                format!("max {unit}"),
                "p50 ns",
                "p99 ns",
                "max ns"
            )?;
            any = true;
        }
        let (p50, p99, max) = figures(histogram);
        writeln!(
            out,
            "  {:<20} {:>10} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}",
            source.name(),
            histogram.calls(),
            p50,
            p99,
            max,
            ns_text(p50, hz),
            ns_text(p99, hz),
            ns_text(max, hz)
        )?;
    }
    if any {
        writeln!(out, "  ({RESOLUTION_NOTE})")?;
    } else {
        writeln!(out, "  no notify routine has run yet")?;
    }
    Ok(())
}

fn json_number_or_null(out: &mut String, value: Option<u64>) {
    match value {
        Some(v) => {
            let _ = write!(out, "{v}");
        }
        None => out.push_str("null"),
    }
}

/// Appends the section as one JSON object.
pub fn write_json(cost: &CostResponse, out: &mut String) {
    let header = &cost.header;
    let unit = unit(cost);
    let hz = header.counter_hz;
    let counter = if header.flags & COST_FLAG_TSC == 0 {
        "qpc"
    } else {
        "tsc"
    };
    let _ = write!(
        out,
        "{{\"measuring\":{},\"counter\":\"{counter}\",\"unit\":\"{unit}\",\"counter_hz\":",
        measuring(cost)
    );
    json_number_or_null(out, (hz != 0).then_some(hz));
    let _ = write!(
        out,
        ",\"processors\":{},\"overhead_{unit}\":{},\"percentiles\":",
        header.processor_count, header.overhead_ticks
    );
    let _ = write_json_string(out, RESOLUTION_NOTE.chars());
    out.push_str(",\"sources\":[");
    for (i, (source, histogram)) in rows(cost).enumerate() {
        if i != 0 {
            out.push(',');
        }
        let (p50, p99, max) = figures(histogram);
        let _ = write!(
            out,
            "{{\"source\":\"{}\",\"calls\":{},\"p50_{unit}\":{p50},\"p99_{unit}\":{p99},\"max_{unit}\":{max},\
             \"mean_{unit}\":{}",
            source.name(),
            histogram.calls(),
            histogram.mean().unwrap_or(0)
        );
        for (key, value) in [("p50_ns", p50), ("p99_ns", p99), ("max_ns", max)] {
            let _ = write!(out, ",\"{key}\":");
            json_number_or_null(out, ticks_to_ns(value, hz));
        }
        out.push('}');
    }
    out.push_str("]}");
}
