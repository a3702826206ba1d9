//! `kcbctl status` (text and `--json`) with the cost section.

use kcb_proto::{
    CostHeader, CostResponse, Ioctl, SourceId, bytes_of,
    cost::{COST_FLAG_MEASURING, COST_FLAG_TSC},
};
use serde_json::Value;

use super::{FakeDriver, config_reply, report_reply, run_cmd, stats_reply};
use crate::{Command, Error};

/// 4 processors, 3 GHz TSC, 60-cycle overhead; `LoadImage`: 99 calls of
/// 1500 cycles and one of 90,000; `Registry`: one call of 700.
fn cost_reply(hz: u64) -> Vec<u8> {
    let mut cost = CostResponse::new();
    cost.header = CostHeader::new(4, COST_FLAG_MEASURING | COST_FLAG_TSC, hz, 60);
    let image = &mut cost.sources[SourceId::LoadImage.index()];
    (0..99).for_each(|_| image.record(1500));
    image.record(90_000);
    cost.sources[SourceId::Registry.index()].record(700);
    bytes_of(&cost).to_vec()
}

fn driver(cost: Vec<u8>) -> FakeDriver<'static> {
    FakeDriver::new()
        .reply(Ioctl::GetReport, Ok(report_reply()))
        .reply(Ioctl::GetStats, Ok(stats_reply()))
        .reply(Ioctl::QueryCost, Ok(cost))
        .reply(Ioctl::GetConfig, Ok(config_reply()))
}

fn cost_section(out: &str) -> &str {
    let start = out
        .find("\nCost (time inside the notify routines)\n")
        .expect("a cost section");
    let end = out.find("\nConfiguration").expect("configuration after cost");
    assert!(
        out.find("\nCounters").unwrap() < start,
        "cost comes after the counters"
    );
    &out[start..end]
}

fn row<'a>(section: &'a str, name: &str) -> Vec<&'a str> {
    section
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default()
}

#[test]
fn status_shows_calls_percentiles_and_max_in_cycles_and_ns() {
    let mut driver = driver(cost_reply(3_000_000_000));
    let (result, out, err) = run_cmd(&Command::Status { json: false }, &mut driver);
    result.unwrap();
    assert!(err.is_empty());
    let cost = cost_section(&out);
    assert!(
        cost.contains(
            "  counter: TSC (3.000 GHz calibrated against the performance counter); 4 processors; \
             one measurement adds about 60 cycles (20 ns)"
        ),
        "{cost}"
    );
    assert_eq!(
        row(cost, "source"),
        [
            "source", "calls", "p50", "cycles", "p99", "cycles", "max", "cycles", "p50", "ns", "p99", "ns",
            "max", "ns"
        ]
    );
    // 1500 is in [1024, 2047]; the 100th call sets p100 but not p99.
    assert_eq!(
        row(cost, "LoadImage"),
        ["LoadImage", "100", "2047", "2047", "90000", "682", "682", "30000"]
    );
    // One call: every percentile is capped by its maximum.
    assert_eq!(
        row(cost, "Registry"),
        ["Registry", "1", "700", "700", "700", "233", "233", "233"]
    );
    assert!(
        row(cost, "ProcessCreate").is_empty(),
        "sources without calls are not listed"
    );
    assert!(cost.contains("upper bound of the log2 bucket"), "{cost}");
}

#[test]
fn status_says_when_ns_are_unknown_or_nothing_is_measured() {
    let mut uncalibrated = driver(cost_reply(0));
    let (result, out, _) = run_cmd(&Command::Status { json: false }, &mut uncalibrated);
    result.unwrap();
    let cost = cost_section(&out);
    assert!(
        cost.contains("frequency not calibrated yet, ns unknown"),
        "{cost}"
    );
    assert_eq!(
        row(cost, "LoadImage"),
        ["LoadImage", "100", "2047", "2047", "90000", "-", "-", "-"]
    );

    let mut idle = CostResponse::new();
    idle.header = CostHeader::new(2, COST_FLAG_MEASURING | COST_FLAG_TSC, 0, 0);
    let mut driver_idle = driver(bytes_of(&idle).to_vec());
    let (result, out, _) = run_cmd(&Command::Status { json: false }, &mut driver_idle);
    result.unwrap();
    assert!(
        cost_section(&out).contains("  no notify routine has run yet"),
        "{out}"
    );

    let mut unmeasured = driver(bytes_of(&CostResponse::new()).to_vec());
    let (result, out, _) = run_cmd(&Command::Status { json: false }, &mut unmeasured);
    result.unwrap();
    assert!(
        cost_section(&out).contains("not measured: the driver could not allocate its per-processor tables"),
        "{out}"
    );
}

#[test]
fn a_driver_without_the_cost_ioctl_leaves_the_rest_of_status() {
    let mut old = FakeDriver::new()
        .reply(Ioctl::GetReport, Ok(report_reply()))
        .reply(Ioctl::GetStats, Ok(stats_reply()))
        .fail(Ioctl::QueryCost, crate::ERROR_INVALID_FUNCTION)
        .reply(Ioctl::GetConfig, Ok(config_reply()));
    let (result, out, _) = run_cmd(&Command::Status { json: false }, &mut old);
    assert!(
        cost_section(&out).contains("unavailable: IOCTL_KCB_QUERY_COST failed: incorrect function"),
        "{out}"
    );
    assert!(out.contains("enabled sources: LoadImage, ProcessCreate"));
    match result {
        Err(e @ Error::Incomplete(_)) => assert_eq!(e.to_string(), "could not get: cost"),
        other => panic!("{other:?}"),
    }
    // A reply that does not validate is refused, not shown.
    let mut bad = CostResponse::new();
    bad.header.flags = COST_FLAG_MEASURING;
    let mut garbled = driver(bytes_of(&bad).to_vec());
    let (result, out, _) = run_cmd(&Command::Status { json: false }, &mut garbled);
    assert!(
        cost_section(&out).contains("unavailable: unexpected reply to IOCTL_KCB_QUERY_COST"),
        "{out}"
    );
    assert!(matches!(result, Err(Error::Incomplete(_))));
}

#[test]
fn status_json_is_one_object_with_the_cost_per_source() {
    let mut driver = driver(cost_reply(3_000_000_000));
    let (result, out, err) = run_cmd(&Command::Status { json: true }, &mut driver);
    result.unwrap();
    assert!(err.is_empty());
    assert_eq!(out.lines().count(), 1, "{out}");
    let status: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(status["registrations"]["driver_version"], "0.1.0");
    assert_eq!(
        status["registrations"]["entries"][0]["name"],
        "PsSetLoadImageNotifyRoutineEx"
    );
    assert_eq!(status["counters"]["sources"][0]["source"], "Driver");
    assert_eq!(status["counters"]["total_dropped"], 2);
    assert_eq!(status["configuration"]["enabled"][0], "LoadImage");
    let cost = &status["cost"];
    assert_eq!(cost["measuring"], true);
    assert_eq!(cost["counter"], "tsc");
    assert_eq!(cost["unit"], "cycles");
    assert_eq!(cost["counter_hz"], 3_000_000_000_u64);
    assert_eq!(cost["processors"], 4);
    assert_eq!(cost["overhead_cycles"], 60);
    let sources = cost["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2);
    let image = &sources[0];
    assert_eq!(image["source"], "LoadImage");
    assert_eq!(image["calls"], 100);
    assert_eq!(image["p50_cycles"], 2047);
    assert_eq!(image["p99_cycles"], 2047);
    assert_eq!(image["max_cycles"], 90_000);
    assert_eq!(image["mean_cycles"], (99 * 1500 + 90_000) / 100);
    assert_eq!(image["p50_ns"], 682);
    assert_eq!(image["max_ns"], 30_000);
    assert_eq!(sources[1]["source"], "Registry");
    assert!(status["errors"].as_object().unwrap().is_empty());

    let mut uncalibrated = self::driver(cost_reply(0));
    let (result, out, _) = run_cmd(&Command::Status { json: true }, &mut uncalibrated);
    result.unwrap();
    let status: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(status["cost"]["counter_hz"], Value::Null);
    assert_eq!(status["cost"]["sources"][0]["p99_ns"], Value::Null);
}

#[test]
fn status_json_marks_missing_sections_null_and_stops_when_not_loaded() {
    let mut old = FakeDriver::new()
        .reply(Ioctl::GetReport, Ok(report_reply()))
        .reply(Ioctl::GetStats, Ok(stats_reply()))
        .fail(Ioctl::QueryCost, crate::ERROR_INVALID_FUNCTION)
        .reply(Ioctl::GetConfig, Ok(config_reply()));
    let (result, out, _) = run_cmd(&Command::Status { json: true }, &mut old);
    let status: Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(status["cost"], Value::Null);
    let why = status["errors"]["cost"].as_str().unwrap();
    assert!(
        why.starts_with("IOCTL_KCB_QUERY_COST failed: incorrect function"),
        "{why}"
    );
    assert!(why.contains("older than this kcbctl"), "{why}");
    assert_eq!(status["counters"]["total_seen"], 13);
    assert!(matches!(result, Err(Error::Incomplete(ref parts)) if parts == &["cost"]));

    let mut absent = FakeDriver::new().reply(Ioctl::GetReport, Err(Error::NotLoaded));
    let (result, out, _) = run_cmd(&Command::Status { json: true }, &mut absent);
    assert!(matches!(result, Err(Error::NotLoaded)));
    assert!(out.is_empty());
    assert_eq!(absent.calls.len(), 1);
}
