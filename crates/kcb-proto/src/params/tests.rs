//! Tests of the `Parameters` parser.

use std::{
    borrow::ToOwned,
    format,
    string::{String, ToString},
    vec::Vec,
};

use super::*;

fn w(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

#[test]
fn defaults_enable_all_but_opt_in_sources() {
    let s = Settings::defaults();
    assert!(s.is_enabled(SourceId::LoadImage));
    assert!(!s.is_enabled(SourceId::Flood));
    assert!(!s.is_enabled(SourceId::ProfileInterrupt));
    assert!(s.is_enabled(SourceId::BugCheckReason) && s.is_enabled(SourceId::Registry));
    assert!(s.origins.iter().all(|o| *o == ConfigOrigin::Default));
}

#[test]
fn applies_enable_values_case_insensitively() {
    let mut s = Settings::defaults();
    assert_eq!(
        s.apply(&w("enableflood"), REG_DWORD, &1u32.to_le_bytes()),
        Ok(Applied::Source {
            source: SourceId::Flood,
            enabled: true
        })
    );
    assert!(s.is_enabled(SourceId::Flood));
    assert_eq!(s.origins[SourceId::Flood.index()], ConfigOrigin::Registry);
    s.apply(&w("EnableLoadImage"), REG_DWORD, &0u32.to_le_bytes())
        .unwrap();
    assert!(!s.is_enabled(SourceId::LoadImage));
}

#[test]
fn invalid_values_keep_the_default_and_are_marked() {
    let mut s = Settings::defaults();
    assert_eq!(
        s.apply(&w("EnableLoadImage"), REG_DWORD, &7u32.to_le_bytes()),
        Err(ParamError::OutOfRange(7))
    );
    assert!(s.is_enabled(SourceId::LoadImage));
    assert_eq!(
        s.origins[SourceId::LoadImage.index()],
        ConfigOrigin::InvalidRegistryValue
    );
    assert_eq!(
        s.apply(&w("EnableLoadImage"), REG_SZ, b"1\0"),
        Err(ParamError::WrongType {
            expected: REG_DWORD,
            found: REG_SZ
        })
    );
    assert_eq!(
        s.apply(&w("EnableLoadImage"), REG_DWORD, &[1, 0]),
        Err(ParamError::BadLength)
    );
    assert_eq!(
        s.apply(&w("EnableNothing"), REG_DWORD, &[1, 0, 0, 0]),
        Err(ParamError::UnknownName)
    );
    assert_eq!(
        s.apply(&w("Enable"), REG_DWORD, &[1, 0, 0, 0]),
        Err(ParamError::UnknownName)
    );
    assert_eq!(
        s.apply(&[0xD800, 0x41], REG_DWORD, &[1, 0, 0, 0]),
        Err(ParamError::UnknownName)
    );
    assert!(s.is_enabled(SourceId::LoadImage));
}

fn multi_sz(items: &[&str]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for item in items {
        for u in item.encode_utf16().chain(Some(0)) {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
    }
    bytes.extend_from_slice(&[0, 0]);
    bytes
}

fn sz(text: &str) -> Vec<u8> {
    text.encode_utf16()
        .chain(Some(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

fn attempts(base: &str) -> Vec<Option<String>> {
    let base = w(base);
    (0..=10)
        .map(|attempt| {
            let mut out = [0_u16; MAX_ALTITUDE];
            altitude_attempt(&base, attempt, &mut out).map(|len| String::from_utf16_lossy(&out[..len]))
        })
        .collect()
}

/// The decimal value of an altitude, as an exact fraction of integers
/// (numerator, power of ten), compared without floating point.
fn below(a: &str, b: &str) -> bool {
    let split = |s: &str| {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        (int.parse::<u128>().unwrap(), frac.to_owned())
    };
    let ((ai, af), (bi, bf)) = (split(a), split(b));
    if ai != bi {
        return ai < bi;
    }
    let width = af.len().max(bf.len());
    let pad = |f: &str| format!("{f:0<width$}");
    pad(&af) < pad(&bf)
}

#[test]
fn altitude_retries_stay_between_the_altitude_and_the_next_integer() {
    for (base, next) in [
        ("371942", "371943"),
        ("371942.7193", "371943"),
        ("385100.5", "385101"),
        ("371942.", "371943"),
        ("0", "1"),
    ] {
        let all = attempts(base);
        assert_eq!(
            all[0].as_deref(),
            Some(base),
            "attempt 0 is the altitude as given"
        );
        assert_eq!(all[10], None, "at most 9 retries");
        for (k, retry) in all[1..10].iter().enumerate() {
            let retry = retry
                .as_deref()
                .unwrap_or_else(|| panic!("{base}: retry {}", k + 1));
            assert!(below(base, retry), "{base} < {retry}");
            assert!(below(retry, next), "{retry} < {next}");
            if k > 0 {
                let previous = all[k].as_deref().unwrap();
                assert!(below(previous, retry), "{previous} < {retry}: retries climb");
            }
        }
    }
    assert_eq!(attempts("371942")[1].as_deref(), Some("371942.1"));
    assert_eq!(attempts("371942")[9].as_deref(), Some("371942.9"));
    assert_eq!(attempts("371942.7193")[1].as_deref(), Some("371942.71931"));
    assert_eq!(attempts("371942.7193")[9].as_deref(), Some("371942.71939"));
}

#[test]
fn altitudes_of_the_maximum_length_are_kept_whole() {
    let longest = "1234567890.12345678901234567890";
    assert_eq!(longest.len(), MAX_ALTITUDE);
    let all = attempts(longest);
    assert_eq!(all[0].as_deref(), Some(longest), "all 31 units kept");
    assert!(all[1..].iter().all(Option::is_none), "no room for a retry digit");
    let one_short = &longest[..MAX_ALTITUDE - 1];
    assert_eq!(attempts(one_short)[3], Some(format!("{one_short}3")));
    let integer = "1234567890123456789012345678901";
    assert_eq!(attempts(integer)[0].as_deref(), Some(integer));
    assert_eq!(attempts(integer)[1], None, "no room for '.1'");
    assert_eq!(attempts(&integer[..29])[1], Some(format!("{}.1", &integer[..29])));
    let mut s = Settings::defaults();
    assert_eq!(
        s.apply(&w("ObAltitude"), REG_SZ, &sz(longest)),
        Ok(Applied::Altitude)
    );
    assert_eq!(s.policy.ob_altitude.units(), w(longest).as_slice());
    for bad in ["1.2.3", ".", "..", "12a"] {
        assert_eq!(
            s.apply(&w("ObAltitude"), REG_SZ, &sz(bad)),
            Err(ParamError::BadEntry),
            "{bad}"
        );
    }
}

#[test]
fn deny_images_rejects_paths_and_takes_the_documented_maximum() {
    let mut s = Settings::defaults();
    for path in [
        "C:\\x\\evil.exe",
        "\\Device\\HarddiskVolume1\\evil.exe",
        "dir/evil.exe",
        "C:evil.exe",
    ] {
        assert_eq!(
            s.apply(&w("DenyImages"), REG_MULTI_SZ, &multi_sz(&["good.exe", path])),
            Err(ParamError::PathEntry),
            "{path}"
        );
        assert!(!s.policy.deny_policy_active(), "{path}: nothing applied");
    }
    assert!(format!("{}", ParamError::PathEntry).contains("file names only"));
    let names: Vec<String> = (0..MAX_DENY_IMAGES)
        .map(|i| format!("{i}{}", "n".repeat(MAX_IMAGE_NAME - 5)) + ".exe")
        .collect();
    assert!(names.iter().all(|n| n.len() == MAX_IMAGE_NAME));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let data = multi_sz(&refs);
    assert_eq!(
        data.len(),
        MAX_VALUE_DATA,
        "the documented maximum is exactly MAX_VALUE_DATA"
    );
    assert_eq!(
        s.apply(&w("DenyImages"), REG_MULTI_SZ, &data),
        Ok(Applied::DenyImages(MAX_DENY_IMAGES))
    );
    assert!(s.policy.denies_image(&w(&format!("C:\\x\\{}", names[7]))));
    let pids: Vec<String> = (0..MAX_PROTECTED_PIDS).map(|_| u64::MAX.to_string()).collect();
    let refs: Vec<&str> = pids.iter().map(String::as_str).collect();
    assert!(multi_sz(&refs).len() <= MAX_VALUE_DATA);
    assert_eq!(
        s.apply(&w("ProtectPids"), REG_MULTI_SZ, &multi_sz(&refs)),
        Ok(Applied::ProtectPids(MAX_PROTECTED_PIDS))
    );
}

#[test]
fn oversized_values_are_rejected_by_name() {
    let mut s = Settings::defaults();
    assert_eq!(
        s.reject_oversized(&w("denyimages"), 5000),
        ParamError::TooLarge(5000)
    );
    assert!(format!("{}", ParamError::TooLarge(5000)).contains("5000 bytes"));
    assert_eq!(
        s.reject_oversized(&w("EnableLoadImage"), 5000),
        ParamError::TooLarge(5000)
    );
    assert_eq!(
        s.origins[SourceId::LoadImage.index()],
        ConfigOrigin::InvalidRegistryValue
    );
    assert!(s.is_enabled(SourceId::LoadImage), "the default stays");
    assert_eq!(s.reject_oversized(&w("Whatever"), 5000), ParamError::UnknownName);
    assert_eq!(s, {
        let mut d = Settings::defaults();
        d.origins[SourceId::LoadImage.index()] = ConfigOrigin::InvalidRegistryValue;
        d
    });
}

#[test]
fn ring_size_is_bounded_and_a_power_of_two() {
    let dword = |v: u32| v.to_le_bytes();
    let mut s = Settings::defaults();
    assert_eq!(s.ring_kib, DEFAULT_RING_KIB);
    assert_eq!(
        s.apply(&w("RingKiBPerProcessor"), REG_DWORD, &dword(256)),
        Ok(Applied::RingKiB(256))
    );
    assert_eq!(s.ring_kib, 256);
    for bad in [0, 2, 48, 2048] {
        assert_eq!(
            s.apply(&w("ringkibperprocessor"), REG_DWORD, &dword(bad)),
            Err(ParamError::BadSize {
                value: bad,
                min: MIN_RING_KIB,
                max: MAX_RING_KIB
            })
        );
    }
    assert!(matches!(
        s.apply(&w("RingKiBPerProcessor"), REG_SZ, &dword(64)),
        Err(ParamError::WrongType { .. })
    ));
    assert_eq!(s.ring_kib, 256, "an invalid value keeps the previous one");
}

#[test]
fn etw_is_on_by_default_and_switchable() {
    let dword = |v: u32| v.to_le_bytes();
    let mut s = Settings::defaults();
    assert!(s.etw);
    assert_eq!(
        s.apply(&w("EnableEtw"), REG_DWORD, &dword(0)),
        Ok(Applied::Etw(false))
    );
    assert!(!s.etw);
    assert_eq!(
        s.apply(&w("enableetw"), REG_DWORD, &dword(1)),
        Ok(Applied::Etw(true))
    );
    assert!(s.etw);
    assert_eq!(
        s.apply(&w("EnableEtw"), REG_DWORD, &dword(2)),
        Err(ParamError::OutOfRange(2))
    );
    assert!(s.etw, "an invalid value keeps the previous one");
}

#[test]
fn registration_walk_is_opt_in() {
    let mut s = Settings::defaults();
    assert!(!s.registration_walk);
    assert_eq!(
        s.apply(&w("EnableRegistrationWalk"), REG_DWORD, &1u32.to_le_bytes()),
        Ok(Applied::RegistrationWalk(true))
    );
    assert!(s.registration_walk);
    assert_eq!(
        s.apply(&w("EnableRegistrationWalk"), REG_DWORD, &2u32.to_le_bytes()),
        Err(ParamError::OutOfRange(2))
    );
    assert!(s.registration_walk);
}

#[test]
fn policies_and_altitudes() {
    let mut s = Settings::defaults();
    assert!(!s.policy.deny_policy_active() && !s.policy.protect_policy_active());
    assert_eq!(
        s.apply(
            &w("DenyImages"),
            REG_MULTI_SZ,
            &multi_sz(&["evil.exe", "BAD.EXE"])
        ),
        Ok(Applied::DenyImages(2))
    );
    assert!(
        s.policy
            .denies_image(&w("\\Device\\HarddiskVolume1\\tmp\\bad.exe"))
    );
    assert!(s.policy.denies_image(&w("C:\\x\\Evil.Exe")));
    assert!(!s.policy.denies_image(&w("C:\\x\\evil.exe.txt")));
    assert!(!s.policy.denies_image(&w("C:\\evil\\good.exe")));
    assert_eq!(
        s.apply(&w("ProtectPids"), REG_MULTI_SZ, &multi_sz(&["4", "1234"])),
        Ok(Applied::ProtectPids(2))
    );
    assert!(s.policy.is_protected(1234) && !s.policy.is_protected(5));
    assert_eq!(
        s.apply(&w("ProtectPids"), REG_MULTI_SZ, &multi_sz(&["12x"])),
        Err(ParamError::BadEntry)
    );
    assert!(
        s.policy.is_protected(1234),
        "a bad value keeps the previous setting"
    );
    assert_eq!(
        s.apply(&w("ObAltitude"), REG_SZ, &sz("385100.5")),
        Ok(Applied::Altitude)
    );
    assert_eq!(s.policy.ob_altitude.units(), w("385100.5").as_slice());
    assert_eq!(
        s.apply(&w("CmAltitude"), REG_SZ, &sz("abc")),
        Err(ParamError::BadEntry)
    );
    assert_eq!(
        s.apply(&w("CmAltitude"), REG_SZ, &sz("")),
        Err(ParamError::BadEntry)
    );
    assert_eq!(s.policy.cm_altitude.units(), w(DEFAULT_CM_ALTITUDE).as_slice());
    let many: Vec<String> = (0..9).map(|i| format!("p{i}.exe")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        s.apply(&w("DenyImages"), REG_MULTI_SZ, &multi_sz(&refs)),
        Err(ParamError::BadEntry)
    );
    assert_eq!(
        s.apply(&w("DenyImages"), REG_SZ, &sz("x.exe")),
        Err(ParamError::WrongType {
            expected: REG_MULTI_SZ,
            found: REG_SZ
        })
    );
}
