//! The driver's registry `Parameters` parser (`kcb_proto::params`), fed a
//! sequence of arbitrary values the way `DriverEntry` feeds the values it
//! enumerates into one `Settings`.
//!
//! Input layout, repeated: `u32` registry type, `u8` name length (UTF-16
//! units), `u16` data length, the name units (2 bytes each, little-endian),
//! the data bytes.
//!
//! Properties: never panics; an applied `Enable<Source>` value sets exactly
//! its source's bit and origin; a refused one keeps every bit and marks its
//! source `InvalidRegistryValue`; any other refused value changes nothing;
//! no bit beyond the source catalog is ever set; policy counts stay within
//! their arrays.

#![no_main]

use kcb_proto::params::{
    Applied, MAX_DENY_IMAGES, MAX_PROTECTED_PIDS, ParamError, Settings, source_of,
};
use kcb_proto::{ConfigOrigin, SOURCE_COUNT};
use libfuzzer_sys::fuzz_target;

fn take<'a>(data: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if data.len() < n {
        return None;
    }
    let (head, tail) = data.split_at(n);
    *data = tail;
    Some(head)
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let mut settings = Settings::defaults();
    let catalog_mask = u64::MAX >> (64 - SOURCE_COUNT);
    while let Some(head) = take(&mut data, 7) {
        let value_type = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let name_len = usize::from(head[4]);
        let data_len = usize::from(u16::from_le_bytes([head[5], head[6]]));
        let Some(name_bytes) = take(&mut data, name_len * 2) else {
            break;
        };
        let Some(value) = take(&mut data, data_len) else {
            break;
        };
        let name: Vec<u16> = name_bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();

        let before = settings;
        let result = settings.apply(&name, value_type, value);
        let source = source_of(&name);
        match (result, source) {
            (
                Ok(Applied::Source {
                    source: applied,
                    enabled,
                }),
                _,
            ) => {
                assert_eq!(Some(applied), source);
                assert_eq!(settings.is_enabled(applied), enabled);
                assert_eq!(settings.origins[applied.index()], ConfigOrigin::Registry);
                let others = !applied.bit();
                assert_eq!(settings.enabled_mask & others, before.enabled_mask & others);
            }
            (Ok(_), _) => assert_eq!(settings.enabled_mask, before.enabled_mask),
            (Err(ParamError::UnknownName), _) => assert_eq!(settings, before),
            (Err(_), Some(source)) => {
                assert_eq!(settings.enabled_mask, before.enabled_mask);
                assert_eq!(
                    settings.origins[source.index()],
                    ConfigOrigin::InvalidRegistryValue
                );
            }
            (Err(_), None) => assert_eq!(settings, before),
        }
        assert_eq!(settings.enabled_mask & !catalog_mask, 0);
        assert!(settings.policy.deny_count <= MAX_DENY_IMAGES);
        assert!(settings.policy.protect_count <= MAX_PROTECTED_PIDS);
        // The policy queries the callbacks run.
        let _ = settings.policy.denies_image(&name);
        let _ = settings.policy.is_protected(u64::from(value_type));
    }
});
