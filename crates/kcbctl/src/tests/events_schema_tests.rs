//! `schemas/kcbctl-events.v1.schema.json` describes every line of
//! `kcbctl events --json`: one record of each source and kind is printed by
//! kcbctl (through `run`, the JSON writer it uses) and validated against it.
//!
//! The validator covers the subset of JSON Schema the file uses: `$ref`
//! (local `#/$defs/...`), `oneOf`, `type`, `const`, `minimum`, `maximum`,
//! `properties`, `required`, `additionalProperties: false`.
//!
//! To regenerate the file after a deliberate format change (then bump the
//! version in its name if existing fields changed):
//! `KCB_BLESS_SCHEMA=1 cargo xtask cargo test -p kcbctl events_schema`.

use std::collections::BTreeMap;
use std::fmt;

use kcb_proto::{EventRecord, FieldVisitor, ImageLoadPayload, SourceId, WStrView, kind, kind_name};
use serde_json::{Map, Value, json};

use super::{FakeDriver, events_reply, run_cmd};
use crate::{Command, EventsOptions};

const SCHEMA_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/kcbctl-events.v1.schema.json"
);

// ---------------------------------------------------------------------------
// A small validator
// ---------------------------------------------------------------------------

fn resolve<'a>(root: &'a Value, reference: &str) -> &'a Value {
    let name = reference
        .strip_prefix("#/$defs/")
        .unwrap_or_else(|| panic!("unsupported $ref {reference}"));
    &root["$defs"][name]
}

fn type_ok(kind: &str, value: &Value) -> bool {
    match kind {
        "object" => value.is_object(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "null" => value.is_null(),
        other => panic!("unsupported type {other}"),
    }
}

/// The errors of `value` against `schema` (empty: valid).
fn validate(root: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let keywords = schema.as_object().expect("a schema is an object");
    for (keyword, arg) in keywords {
        match keyword.as_str() {
            "$schema" | "$id" | "title" | "description" | "$defs" => {}
            "$ref" => validate(root, resolve(root, arg.as_str().unwrap()), value, at, errors),
            "oneOf" => {
                let matching = arg
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|s| {
                        let mut e = Vec::new();
                        validate(root, s, value, at, &mut e);
                        e.is_empty()
                    })
                    .count();
                if matching != 1 {
                    errors.push(format!("{at}: matches {matching} of oneOf, not 1"));
                }
            }
            "type" => {
                let ok = match arg {
                    Value::String(t) => type_ok(t, value),
                    Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), value)),
                    _ => panic!("bad type {arg}"),
                };
                if !ok {
                    errors.push(format!("{at}: {value} is not of type {arg}"));
                }
            }
            "const" => {
                if value != arg {
                    errors.push(format!("{at}: {value} is not {arg}"));
                }
            }
            "minimum" | "maximum" => {
                let Some(number) = value
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| value.as_u64().map(i128::from))
                else {
                    continue;
                };
                let limit = arg
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| arg.as_u64().map(i128::from))
                    .unwrap();
                if (keyword == "minimum" && number < limit) || (keyword == "maximum" && number > limit) {
                    errors.push(format!("{at}: {number} beyond {keyword} {limit}"));
                }
            }
            "required" => {
                for name in arg.as_array().unwrap() {
                    if value.get(name.as_str().unwrap()).is_none() {
                        errors.push(format!("{at}: missing required {name}"));
                    }
                }
            }
            "properties" => {
                let Some(object) = value.as_object() else { continue };
                for (name, sub) in arg.as_object().unwrap() {
                    if let Some(field) = object.get(name) {
                        validate(root, sub, field, &format!("{at}.{name}"), errors);
                    }
                }
            }
            "additionalProperties" => {
                assert_eq!(arg, &Value::Bool(false), "only additionalProperties: false");
                let Some(object) = value.as_object() else { continue };
                let known = schema["properties"].as_object().unwrap();
                for name in object.keys().filter(|n| !known.contains_key(*n)) {
                    errors.push(format!("{at}: unexpected property {name}"));
                }
            }
            other => panic!("the validator does not support the keyword {other}"),
        }
    }
}

fn errors_of(schema: &Value, line: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    validate(schema, schema, line, "$", &mut errors);
    errors
}

// ---------------------------------------------------------------------------
// The records: one per source and kind
// ---------------------------------------------------------------------------

fn kinds(source: SourceId) -> Vec<u16> {
    let mut kinds = vec![kind::NONE];
    kinds.extend((1..=64).filter(|k| kind_name(source, *k).is_some()));
    kinds
}

fn every_kind() -> Vec<EventRecord> {
    let mut records = Vec::new();
    for source in SourceId::ALL {
        for k in kinds(source) {
            let mut record = EventRecord::new(source, k);
            record.header.sequence = records.len() as u64 + 1;
            record.header.timestamp = 133_594_560_000_000_000;
            record.header.pid = 4;
            record.header.tid = 8;
            records.push(record);
        }
    }
    // A truncated string adds `<name>_truncated`.
    records.push(EventRecord::build::<ImageLoadPayload>(kind::NONE, |p| {
        p.name.set_from_str(&"x".repeat(300));
    }));
    records
}

/// kcbctl's `events --json` output for `records`, parsed.
fn printed(records: &[EventRecord]) -> Vec<Value> {
    let mut driver = FakeDriver::new()
        .reply(kcb_proto::Ioctl::ReadEvents, Ok(events_reply(records, 0, 0)))
        .reply(kcb_proto::Ioctl::ReadEvents, Ok(events_reply(&[], 0, 0)));
    let command = Command::Events {
        json: true,
        follow: false,
        options: EventsOptions::default(),
    };
    let (result, out, err) = run_cmd(&command, &mut driver);
    result.unwrap();
    assert!(err.is_empty(), "{err}");
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

// ---------------------------------------------------------------------------
// Generating the file (KCB_BLESS_SCHEMA=1)
// ---------------------------------------------------------------------------

/// Collects the JSON properties a payload's fields turn into.
#[derive(Default)]
struct Properties {
    properties: BTreeMap<String, Value>,
    required: Vec<String>,
}

impl Properties {
    fn add(&mut self, name: &str, schema: Value) {
        self.properties.insert(name.to_owned(), schema);
        self.required.push(name.to_owned());
    }
    fn optional(&mut self, name: String, schema: Value) {
        self.properties.insert(name, schema);
    }
}

fn unsigned() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})
}

impl FieldVisitor for Properties {
    fn unsigned(&mut self, name: &'static str, _: u64) -> fmt::Result {
        self.add(name, unsigned());
        Ok(())
    }
    fn signed(&mut self, name: &'static str, _: i64) -> fmt::Result {
        self.add(
            name,
            json!({"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX}),
        );
        Ok(())
    }
    fn hex(&mut self, name: &'static str, _: u64) -> fmt::Result {
        self.add(name, unsigned());
        Ok(())
    }
    fn status(&mut self, name: &'static str, _: i32) -> fmt::Result {
        self.add(
            name,
            json!({"type": "integer", "minimum": i32::MIN, "maximum": i32::MAX,
                   "description": "NTSTATUS as a signed 32-bit number"}),
        );
        Ok(())
    }
    fn boolean(&mut self, name: &'static str, _: bool) -> fmt::Result {
        self.add(name, json!({"type": "boolean"}));
        Ok(())
    }
    fn enumeration(&mut self, name: &'static str, _: u32, _: Option<&'static str>) -> fmt::Result {
        self.add(
            name,
            json!({"type": "integer", "minimum": 0, "maximum": u32::MAX}),
        );
        self.optional(
            format!("{name}_name"),
            json!({"type": "string", "description": format!("label of `{name}`, when known")}),
        );
        Ok(())
    }
    fn string(&mut self, name: &'static str, _: WStrView<'_>) -> fmt::Result {
        self.add(name, json!({"type": "string"}));
        self.optional(
            format!("{name}_truncated"),
            json!({"const": true, "description": format!("`{name}` was truncated")}),
        );
        Ok(())
    }
    fn guid(&mut self, name: &'static str, _: &[u8; 16]) -> fmt::Result {
        self.add(
            name,
            json!({"type": "string", "description": "GUID, XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"}),
        );
        Ok(())
    }
    fn bytes(&mut self, name: &'static str, _: &[u8]) -> fmt::Result {
        self.add(
            name,
            json!({"type": "string", "description": "bytes as lower-case hex"}),
        );
        Ok(())
    }
}

fn header(source: Option<SourceId>) -> Properties {
    let mut p = Properties::default();
    p.add("seq", unsigned());
    p.add(
        "timestamp",
        json!({"type": "integer", "minimum": 0, "maximum": u64::MAX,
        "description": "100-ns units since 1601-01-01 UTC"}),
    );
    p.add(
        "time",
        json!({"type": "string", "description": "RFC 3339 UTC, 7 fractional digits"}),
    );
    p.add(
        "cpu",
        json!({"type": "integer", "minimum": 0, "maximum": u32::MAX}),
    );
    p.add(
        "irql",
        json!({"type": "integer", "minimum": 0, "maximum": u8::MAX}),
    );
    if let Some(s) = source {
        p.add("source", json!({"const": s.name()}));
        p.add("source_id", json!({"const": s.as_u16()}));
    } else {
        p.add("source", json!({"type": "null"}));
        p.add(
            "source_id",
            json!({"type": "integer", "minimum": 0, "maximum": u16::MAX}),
        );
    }
    p.add(
        "kind",
        json!({"type": "integer", "minimum": 0, "maximum": u16::MAX}),
    );
    p.optional("kind_name".into(), json!({"type": "string"}));
    p.add(
        "version",
        json!({"type": "integer", "minimum": 0, "maximum": u16::MAX}),
    );
    p.add(
        "flags",
        json!({"type": "integer", "minimum": 0, "maximum": u16::MAX}),
    );
    p.add("pid", unsigned());
    p.add("tid", unsigned());
    p
}

fn definition(p: Properties, description: &str) -> Value {
    json!({
        "description": description,
        "type": "object",
        "properties": Map::from_iter(p.properties),
        "required": p.required,
        "additionalProperties": false,
    })
}

fn generate() -> Value {
    let mut defs = Map::new();
    let mut one_of = Vec::new();
    for source in SourceId::ALL {
        let mut p = header(Some(source));
        EventRecord::new(source, 0).visit_payload(&mut p).unwrap();
        defs.insert(
            source.name().to_owned(),
            definition(p, &format!("An event of the {} source", source.name())),
        );
        one_of.push(json!({"$ref": format!("#/$defs/{}", source.name())}));
    }
    defs.insert(
        "UnknownSource".into(),
        definition(
            header(None),
            "A record whose source id this kcbctl does not know (no payload fields)",
        ),
    );
    one_of.push(json!({"$ref": "#/$defs/UnknownSource"}));
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "kcbctl-events.v1.schema.json",
        "title": "kcbctl events --json (and decode-dump --json): one object per line, version 1",
        "oneOf": one_of,
        "$defs": defs,
    })
}

fn committed() -> Value {
    if std::env::var_os("KCB_BLESS_SCHEMA").is_some() {
        let text = serde_json::to_string_pretty(&generate()).unwrap() + "\n";
        std::fs::write(SCHEMA_PATH, text).unwrap();
    }
    let text = std::fs::read_to_string(SCHEMA_PATH).unwrap_or_else(|e| panic!("{SCHEMA_PATH}: {e}"));
    serde_json::from_str(&text).unwrap()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn every_event_kind_printed_by_kcbctl_matches_the_schema() {
    let schema = committed();
    let records = every_kind();
    let lines = printed(&records);
    assert_eq!(lines.len(), records.len());
    let mut sources_seen = std::collections::BTreeSet::new();
    for line in &lines {
        let errors = errors_of(&schema, line);
        assert!(errors.is_empty(), "{line}\n{}", errors.join("\n"));
        sources_seen.insert(line["source"].as_str().unwrap().to_owned());
    }
    assert_eq!(sources_seen.len(), SourceId::ALL.len());
    assert!(lines.iter().any(|l| l["name_truncated"] == true));
    assert!(lines.iter().any(|l| l["kind_name"].is_string()));
    // Every source has its own definition; none is a catch-all.
    for source in SourceId::ALL {
        let def = &schema["$defs"][source.name()];
        assert_eq!(def["additionalProperties"], false, "{}", source.name());
        assert_eq!(def["properties"]["source"]["const"], source.name());
    }
}

#[test]
fn an_unknown_source_matches_the_unknown_source_definition() {
    let schema = committed();
    let mut record = EventRecord::ZERO;
    record.header.source = 999;
    let mut line = String::new();
    kcb_proto::write_json(&record, &mut line).unwrap();
    let value: Value = serde_json::from_str(&line).unwrap();
    assert!(errors_of(&schema, &value).is_empty(), "{value}");
}

#[test]
fn the_validator_rejects_what_the_schema_forbids() {
    let schema = committed();
    let good = printed(&every_kind()[..1]).remove(0);
    assert!(errors_of(&schema, &good).is_empty());
    let mutate = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut bad = good.clone();
        f(bad.as_object_mut().unwrap());
        errors_of(&schema, &bad)
    };
    assert!(!mutate(&|o| drop(o.insert("surprise".into(), json!(1)))).is_empty());
    assert!(!mutate(&|o| drop(o.remove("pid"))).is_empty());
    assert!(!mutate(&|o| drop(o.insert("pid".into(), json!("4")))).is_empty());
    assert!(!mutate(&|o| drop(o.insert("pid".into(), json!(-1)))).is_empty());
    assert!(!mutate(&|o| drop(o.insert("source".into(), json!("LoadImage")))).is_empty());
    assert!(!errors_of(&schema, &json!([1])).is_empty());
}
