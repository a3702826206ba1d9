//! The ETW `TraceLogging` provider (issue 14): what the driver hands
//! `EtwWriteTransfer` under the model, decoded here against the documented
//! `TraceLogging` layout (`TraceLoggingProvider.h`: provider traits, event
//! metadata with tags, fields with in/out types, then the data) by a decoder
//! written for this test, and compared field by field with the JSON form
//! `kcbctl events --json` prints for the same record.

use std::collections::BTreeMap;

use kcallbacks::etw::{PROVIDER_ID, PROVIDER_NAME, encode::keyword};
use kcb_proto::{EventRecord, RegistrationState, SourceId};
use ntsim::Kernel;
use ntsim::etw::{self, Captured};
use ntsim::irql::PASSIVE_LEVEL;
use ntsim::{poll_until, trigger};
use serde_json::{Map, Value, json};
use wdk_sys::GUID;

use crate::common::*;

const REPORT_NAME: &str = "EtwRegister(kcallbacks)";
/// `TRACE_LEVEL_VERBOSE`: every level.
const ALL_LEVELS: u8 = 5;

/// The provider GUID as the model takes it, from the name by the
/// `tracelogging` crate's derivation (not from the driver's constant).
fn provider_guid() -> GUID {
    let (data1, data2, data3, data4) = tracelogging::Guid::from_name(PROVIDER_NAME).to_fields();
    GUID {
        Data1: data1,
        Data2: data2,
        Data3: data3,
        Data4: data4,
    }
}

// --- the decoder --------------------------------------------------------------------------------

/// A little-endian reader over one block.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    const fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let end = self.at + n;
        assert!(
            end <= self.bytes.len(),
            "read past the end ({end} > {})",
            self.bytes.len()
        );
        let out = &self.bytes[self.at..end];
        self.at = end;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take(2).try_into().unwrap())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    /// A NUL-terminated UTF-8 string.
    fn sz(&mut self) -> String {
        let rest = &self.bytes[self.at..];
        let len = rest.iter().position(|&b| b == 0).expect("NUL-terminated");
        let s = String::from_utf8(rest[..len].to_vec()).expect("UTF-8 name");
        self.at += len + 1;
        s
    }
    /// Tags: 1 to 4 bytes, bit 7 set on every byte but the last.
    fn tags(&mut self) -> u32 {
        let mut tags = 0_u32;
        for i in 0..4 {
            let byte = self.u8();
            tags |= u32::from(byte & 0x7F) << (21 - 7 * i);
            if byte & 0x80 == 0 {
                return tags;
            }
        }
        panic!("more than 4 tag bytes");
    }
    const fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// One field of the event metadata.
#[derive(Debug)]
struct Field {
    name: String,
    in_type: u8,
    out_type: u8,
}

/// A decoded event: name, tags, fields with their decoded values.
#[derive(Debug)]
struct Decoded {
    name: String,
    tags: u32,
    fields: Vec<(Field, Value)>,
}

/// The provider traits block: `UINT16 size`, the name, then traits.
fn decode_traits(bytes: &[u8]) -> String {
    let mut r = Reader::new(bytes);
    assert_eq!(usize::from(r.u16()), bytes.len(), "traits size");
    let name = r.sz();
    assert!(r.done(), "no further traits expected");
    name
}

fn decode_metadata(bytes: &[u8]) -> (String, u32, Vec<Field>) {
    let mut r = Reader::new(bytes);
    assert_eq!(usize::from(r.u16()), bytes.len(), "metadata size");
    let tags = r.tags();
    let name = r.sz();
    let mut fields = Vec::new();
    while !r.done() {
        let field_name = r.sz();
        let in_byte = r.u8();
        let mut out_type = 0;
        if in_byte & 0x80 != 0 {
            let out_byte = r.u8();
            out_type = out_byte & 0x7F;
            if out_byte & 0x80 != 0 {
                let _field_tags = r.tags();
            }
        }
        assert_eq!(in_byte & 0x60, 0, "{field_name}: arrays are not used");
        fields.push(Field {
            name: field_name,
            in_type: in_byte & 0x1F,
            out_type,
        });
    }
    (name, tags, fields)
}

/// FILETIME as `YYYY-MM-DDThh:mm:ss.fffffffZ` (days to a civil date:
/// the proleptic Gregorian calendar, 400-year cycles).
fn filetime_text(filetime: u64) -> String {
    let fraction = filetime % 10_000_000;
    let seconds = filetime / 10_000_000;
    let days = i64::try_from(seconds / 86_400).unwrap();
    let rest = seconds % 86_400;
    // Days from 1601-01-01 to 1970-01-01: 134774.
    let z = days - 134_774 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:07}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Bytes as hex digits.
fn hex(bytes: &[u8], upper: bool) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = if upper {
            write!(s, "{b:02X}")
        } else {
            write!(s, "{b:02x}")
        };
        s
    })
}

fn value_of(field: &Field, r: &mut Reader<'_>) -> Value {
    match field.in_type {
        3 => json!(i8::from_le_bytes([r.u8()])),
        4 => json!(r.u8()),
        6 => json!(r.u16()),
        8 => json!(r.u32()),
        9 => json!(r.u64().cast_signed()),
        10 | 21 => json!(r.u64()),
        13 => {
            let v = r.u32();
            assert!(v <= 1, "{}: BOOL32 {v}", field.name);
            json!(v == 1)
        }
        14 => {
            let n = usize::from(r.u16());
            json!(hex(r.take(n), false))
        }
        15 => {
            let b = r.take(16);
            let d1 = u32::from_le_bytes(b[..4].try_into().unwrap());
            let d2 = u16::from_le_bytes(b[4..6].try_into().unwrap());
            let d3 = u16::from_le_bytes(b[6..8].try_into().unwrap());
            let tail = hex(&b[10..], true);
            json!(format!(
                "{d1:08X}-{d2:04X}-{d3:04X}-{:02X}{:02X}-{tail}",
                b[8], b[9]
            ))
        }
        17 => json!(filetime_text(r.u64())),
        20 => {
            let v = r.u32();
            // OutType NTSTATUS (14): the JSON form shows it signed.
            assert_eq!(
                field.out_type, 14,
                "{}: HEXINT32 is only used for NTSTATUS",
                field.name
            );
            json!(v.cast_signed())
        }
        22 => {
            let n = usize::from(r.u16());
            assert_eq!(n % 2, 0, "{}: UTF-16 byte count", field.name);
            let units: Vec<u16> = r
                .take(n)
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            json!(String::from_utf16_lossy(&units))
        }
        23 => {
            let n = usize::from(r.u16());
            json!(String::from_utf8(r.take(n).to_vec()).expect("UTF-8"))
        }
        other => panic!("{}: in-type {other} not expected", field.name),
    }
}

/// Checks the framing of one captured event and decodes it.
fn decode(event: &Captured) -> Decoded {
    assert_eq!(event.irql, PASSIVE_LEVEL, "written from the drain thread");
    let types: Vec<u32> = event.data.iter().map(|(t, _)| *t).collect();
    assert_eq!(types, [2, 1, 0], "provider traits, event metadata, data");
    assert_eq!(decode_traits(&event.data[0].1), PROVIDER_NAME);
    assert_eq!(event.descriptor.channel, 11, "TraceLogging channel");
    assert_eq!(event.descriptor.opcode, 0);
    assert_eq!(
        (
            event.descriptor.id,
            event.descriptor.version,
            event.descriptor.task
        ),
        (0, 0, 0)
    );
    assert!(event.activity_id.is_none() && event.related_activity_id.is_none());
    let (name, tags, fields) = decode_metadata(&event.data[1].1);
    let mut data = Reader::new(&event.data[2].1);
    let fields = fields
        .into_iter()
        .map(|f| {
            let v = value_of(&f, &mut data);
            (f, v)
        })
        .collect();
    assert!(data.done(), "{name}: data left after the last field");
    Decoded { name, tags, fields }
}

/// The JSON form of `record`, as kcbctl prints it.
fn json_of(record: &EventRecord) -> Map<String, Value> {
    let mut line = String::new();
    kcb_proto::write_json(record, &mut line).unwrap();
    match serde_json::from_str(&line).unwrap() {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn field_map(decoded: &Decoded) -> BTreeMap<String, Value> {
    let mut map = BTreeMap::new();
    for (field, value) in &decoded.fields {
        assert!(
            map.insert(field.name.clone(), value.clone()).is_none(),
            "{}: field {} twice",
            decoded.name,
            field.name
        );
    }
    map
}

/// The decoded event whose `cpu` and `seq` are `record`'s.
fn event_for<'a>(decoded: &'a [Decoded], record: &EventRecord) -> Option<&'a Decoded> {
    decoded.iter().find(|d| {
        let m = field_map(d);
        m.get("seq") == Some(&json!(record.header.sequence))
            && m.get("cpu") == Some(&json!(record.header.cpu))
    })
}

fn report_state(kernel: &mut Kernel) -> (RegistrationState, i32, u32) {
    report_details(kernel)
        .into_iter()
        .find(|(name, ..)| name == REPORT_NAME)
        .map(|(_, state, status, detail)| (state, status, detail))
        .expect("the ETW provider is in the report")
}

fn load_image(name: &str, pid: u64) {
    let _ = trigger::load_image(name, pid, 0x7FF0_0000, 0x2000, false);
}

fn notify_own_object(argument: usize) {
    let _ = trigger::notify_callback_object("\\Callback\\KCallbacks", argument, argument + 1, PASSIVE_LEVEL);
}

/// Waits until the session holds at least `n` events.
fn wait_captured(n: usize) -> Vec<Captured> {
    assert!(
        poll_until(DRAIN_TIMEOUT, || etw::captured().len() >= n),
        "expected {n} ETW events, have {}",
        etw::captured().len()
    );
    etw::captured()
}

// --- the tests ----------------------------------------------------------------------------------

#[test]
fn provider_guid_is_the_one_tracelogging_derives_from_the_name() {
    assert_eq!(PROVIDER_ID, tracelogging::Guid::from_name("kcallbacks"));
    assert_eq!(
        &PROVIDER_ID.to_utf8_bytes(),
        b"cf65554e-5b35-55b9-8db0-183ef862fd74",
        "the GUID documented in the README"
    );
}

#[test]
fn every_event_decodes_to_the_json_form_of_its_record() {
    let mut kernel = boot();
    // A session enabled before the provider registers: EtwRegister calls
    // the enable callback.
    etw::enable_session(&provider_guid(), ALL_LEVELS, u64::MAX, 0);
    load(&mut kernel);
    let providers = etw::providers();
    assert_eq!(providers.len(), 1);
    let traits = providers[0].traits.clone().expect("EventProviderSetTraits");
    assert_eq!(decode_traits(&traits), PROVIDER_NAME);
    assert_eq!(report_state(&mut kernel).0, RegistrationState::Registered);

    // Sources whose payloads cover every field type: strings (image),
    // enumerations with labels and NTSTATUS (a process exit with a failure
    // status), GUID and bytes (a power setting), and the registry.
    load_image("\\Windows\\System32\\etw décodé.dll", 0x4E10);
    notify_own_object(0x77);
    let _ = trigger::process_exit_with_status(0x4E14, 0x4E10, wdk_sys::STATUS_ACCESS_DENIED);
    let _ = trigger::power_setting_change(ntsim::power::GUID_LIDSWITCH_STATE_CHANGE, &0u32.to_le_bytes());
    let _ = trigger::registry_set_value(
        0x4E18,
        "\\Registry\\Machine\\Software\\KcbEtw",
        "V",
        ntsim::registry::REG_DWORD,
        &[1, 0, 0, 0],
    );
    // An enumeration with a label (`state` and `state_name`).
    let _ = trigger::processor_add(ntsim::context::PROCESSOR_COUNT);
    let wanted = [
        SourceId::ProcessorChange,
        SourceId::LoadImage,
        SourceId::CallbackObject,
        SourceId::ProcessCreate,
        SourceId::PowerSetting,
        SourceId::Registry,
    ];
    let records = read_until(&mut kernel, "events of every kind wanted", |all| {
        wanted.iter().all(|s| !of(all, *s).is_empty())
    });
    let decoded: Vec<Decoded> = wait_captured(records.len()).iter().map(decode).collect();
    assert!(
        decoded.len() >= records.len(),
        "an event per record the drain moved"
    );

    let mut sources = Vec::new();
    for record in &records {
        let event = event_for(&decoded, record).unwrap_or_else(|| panic!("no ETW event for {record:?}"));
        let json = json_of(record);
        assert_eq!(
            Some(&json!(event.name)),
            json.get("source"),
            "event name = source"
        );
        assert_eq!(event.tags, 0);
        let fields = field_map(event);
        let json_keys: Vec<&String> = json.keys().collect();
        let etw_keys: Vec<&String> = fields.keys().collect();
        assert_eq!(etw_keys, json_keys, "{}: the same field names", event.name);
        for (name, value) in &json {
            assert_eq!(fields.get(name), Some(value), "{}: field {name}", event.name);
        }
        sources.push(event.name.clone());
    }
    for source in wanted {
        assert!(
            sources.iter().any(|s| s == source.name()),
            "no {source} event compared"
        );
    }
    let processor = decoded
        .iter()
        .find(|d| d.name == "ProcessorChange")
        .expect("a ProcessorChange event");
    assert!(
        field_map(processor).contains_key("state_name"),
        "the enumeration's label field"
    );
    // Every in-type the encoder uses went through the comparison (but
    // INT64: no payload has a signed field today).
    let in_types: std::collections::BTreeSet<u8> = decoded
        .iter()
        .flat_map(|d| d.fields.iter().map(|(f, _)| f.in_type))
        .collect();
    for in_type in [4, 6, 8, 10, 13, 14, 15, 17, 20, 21, 22, 23] {
        assert!(
            in_types.contains(&in_type),
            "no field of in-type {in_type}: {in_types:?}"
        );
    }
    // The image name went through UTF-16 with a non-ASCII character.
    let image = decoded
        .iter()
        .find(|d| d.name == "LoadImage")
        .expect("a LoadImage event");
    let (field, _) = image
        .fields
        .iter()
        .find(|(f, _)| f.name == "name")
        .expect("name field");
    assert_eq!(field.in_type, 22, "counted UTF-16 string");

    etw::disable_session();
    unload_clean(&mut kernel);
    assert!(etw::providers().is_empty(), "unload unregisters the provider");
}

#[test]
fn no_session_means_no_write_only_the_enabled_check() {
    let mut kernel = loaded();
    assert_eq!(etw::providers().len(), 1, "registered");
    load_image("\\Windows\\System32\\etw-quiet.dll", 0x4E20);
    let _ = read_until(&mut kernel, "image event", |all| {
        !select(all, SourceId::LoadImage, 0x4E20).is_empty()
    });
    assert_eq!(etw::write_calls(), 0);
    assert!(!ntsim::ddi::calls().iter().any(|c| c.ddi == "EtwWriteTransfer"));

    // Enabled, then disabled again: writes stop with the disable.
    etw::enable_session(&provider_guid(), ALL_LEVELS, u64::MAX, 0);
    load_image("\\Windows\\System32\\etw-on.dll", 0x4E21);
    let _ = read_until(&mut kernel, "image event", |all| {
        !select(all, SourceId::LoadImage, 0x4E21).is_empty()
    });
    let written = wait_captured(1).len();
    etw::disable_session();
    load_image("\\Windows\\System32\\etw-off.dll", 0x4E22);
    let _ = read_until(&mut kernel, "image event", |all| {
        !select(all, SourceId::LoadImage, 0x4E22).is_empty()
    });
    assert_eq!(etw::write_calls(), u64::try_from(written).unwrap());
    unload_clean(&mut kernel);
}

#[test]
fn keywords_and_levels_select_what_is_written() {
    let mut kernel = loaded();
    // Only the callback-object family.
    etw::enable_session(&provider_guid(), ALL_LEVELS, keyword::CALLBACK_OBJECT, 0);
    load_image("\\Windows\\System32\\etw-keyword.dll", 0x4E30);
    notify_own_object(0x31);
    let _ = read_until(&mut kernel, "both events", |all| {
        !select(all, SourceId::LoadImage, 0x4E30).is_empty() && !of(all, SourceId::CallbackObject).is_empty()
    });
    let captured = wait_captured(1);
    let names: Vec<String> = captured.iter().map(|e| decode(e).name).collect();
    assert!(names.iter().all(|n| n == "CallbackObject"), "{names:?}");
    assert!(
        captured
            .iter()
            .all(|e| e.descriptor.keyword == keyword::CALLBACK_OBJECT)
    );
    assert_eq!(
        etw::write_calls(),
        u64::try_from(captured.len()).unwrap(),
        "the driver did not call EtwWriteTransfer for the other families"
    );
    etw::disable_session();

    // Every family, but only up to TRACE_LEVEL_WARNING: image loads
    // (informational) are not written.
    let before = etw::write_calls();
    etw::enable_session(&provider_guid(), 3, u64::MAX, 0);
    load_image("\\Windows\\System32\\etw-level.dll", 0x4E31);
    let records = read_until(&mut kernel, "image event", |all| {
        !select(all, SourceId::LoadImage, 0x4E31).is_empty()
    });
    assert!(records.iter().any(|r| r.source() == Some(SourceId::LoadImage)));
    assert_eq!(
        etw::write_calls(),
        before,
        "informational events are not written at level 3"
    );
    etw::disable_session();
    unload_clean(&mut kernel);
}

#[test]
fn enable_etw_0_does_not_register() {
    let mut kernel = loaded_with(&[("EnableEtw", 0)]);
    assert_eq!(report_state(&mut kernel).0, RegistrationState::DisabledByConfig);
    assert!(etw::providers().is_empty());
    assert!(!ntsim::ddi::calls().iter().any(|c| c.ddi == "EtwRegister"));
    assert!(
        driver_lines(&kernel)
            .iter()
            .any(|l| l.contains("EnableEtw = 0 (ETW provider off)"))
    );
    unload_clean(&mut kernel);
}

#[test]
fn without_etw_register_the_report_says_unavailable() {
    // As under Wine, whose ntoskrnl.exe does not export EtwRegister.
    let mut kernel = loaded_without(&["EtwRegister"]);
    let (state, status, detail) = report_state(&mut kernel);
    assert_eq!(state, RegistrationState::NotAvailable);
    assert_eq!(status, wdk_sys::STATUS_PROCEDURE_NOT_FOUND);
    assert_eq!(detail, kcb_proto::report_detail::NOT_EXPORTED);
    assert!(
        driver_lines(&kernel)
            .iter()
            .any(|l| l.contains("register EtwRegister(kcallbacks): unavailable status=0xC000007A"))
    );
    assert!(etw::providers().is_empty());
    unload_clean(&mut kernel);
}

#[test]
fn unload_unregisters_the_provider() {
    let mut kernel = loaded();
    let handle = etw::providers()[0].handle;
    unload_clean(&mut kernel);
    assert!(etw::providers().is_empty());
    assert!(
        driver_lines(&kernel)
            .iter()
            .any(|l| l.contains("unregister EtwRegister(kcallbacks): removed"))
    );
    assert!(ntsim::ddi::calls().iter().any(|c| c.ddi == "EtwUnregister"));
    assert_ne!(handle, 0);
}
