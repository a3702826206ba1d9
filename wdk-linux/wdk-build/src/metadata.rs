//! The `metadata.wdk` sections of the workspace's manifests, read and checked
//! as the real `wdk-build` 0.6.0 reads them (`wdk_build::metadata`): the same
//! serde rules (kebab-case keys, unknown keys rejected, `driver-type` tag),
//! the same "exactly one distinct configuration" rule, the same errors.

use std::collections::HashSet;

use serde::Deserialize;

use crate::DriverConfig;

/// The WDK configuration of a build, as the real `wdk_build::metadata::Wdk`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Wdk {
    /// `[package.metadata.wdk.driver-model]` / `[workspace.metadata.wdk.driver-model]`.
    pub driver_model: DriverConfig,
}

/// Errors of reading [`Wdk`] from `cargo metadata` (same variants as the real
/// `wdk_build::metadata::TryFromCargoMetadataError`).
#[derive(Debug)]
pub enum TryFromCargoMetadataError {
    /// No package and no workspace of the graph has a `metadata.wdk` section.
    NoWdkConfigurationsDetected,
    /// More than one distinct `metadata.wdk` configuration.
    MultipleWdkConfigurationsDetected {
        /// The distinct configurations found.
        wdk_metadata_configurations: HashSet<Wdk>,
    },
    /// A `metadata.wdk` section that does not deserialize.
    WdkMetadataDeserialization {
        /// Which section (package or workspace).
        metadata_source: String,
        /// What serde said.
        error_source: serde_json::Error,
    },
}

impl std::fmt::Display for TryFromCargoMetadataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoWdkConfigurationsDetected => f.write_str(
                "no WDK configuration metadata is detected in the dependency graph. This could happen when \
                 building WDR itself, or building library crates that depend on the WDK but defer WDK \
                 configuration to their consumers",
            ),
            Self::MultipleWdkConfigurationsDetected {
                wdk_metadata_configurations,
            } => write!(
                f,
                "multiple configurations of the WDK are detected across the dependency graph, but only one \
                 configuration is allowed: {wdk_metadata_configurations:#?}"
            ),
            Self::WdkMetadataDeserialization {
                metadata_source,
                error_source,
            } => {
                write!(
                    f,
                    "failed to deserialize metadata::Wdk from {metadata_source}: {error_source}"
                )
            }
        }
    }
}

impl std::error::Error for TryFromCargoMetadataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::WdkMetadataDeserialization { error_source, .. } => Some(error_source),
            _ => None,
        }
    }
}

impl Wdk {
    /// Reads the configuration from the JSON of `cargo metadata`: every
    /// package's `metadata.wdk` (absent or `{}` ignored) and the workspace's
    /// `metadata.wdk`; exactly one distinct configuration must remain.
    ///
    /// # Errors
    /// As the real `TryFrom<&cargo_metadata::Metadata> for Wdk`.
    pub fn try_from_cargo_metadata(metadata: &serde_json::Value) -> Result<Self, TryFromCargoMetadataError> {
        let mut configs = HashSet::new();
        for package in metadata["packages"].as_array().into_iter().flatten() {
            let section = &package["metadata"]["wdk"];
            match section {
                serde_json::Value::Null => {}
                serde_json::Value::Object(map) if map.is_empty() => {}
                _ => {
                    let name = package["name"].as_str().unwrap_or("?");
                    configs.insert(deserialize(
                        section,
                        format!("package.metadata[\"wdk\"] for {name} package"),
                    )?);
                }
            }
        }
        let workspace = &metadata["metadata"]["wdk"];
        if !workspace.is_null() {
            configs.insert(deserialize(workspace, "workspace_metadata[\"wdk\"]".to_owned())?);
        }
        if configs.len() > 1 {
            return Err(TryFromCargoMetadataError::MultipleWdkConfigurationsDetected {
                wdk_metadata_configurations: configs,
            });
        }
        configs.into_iter().next().ok_or(TryFromCargoMetadataError::NoWdkConfigurationsDetected)
    }
}

fn deserialize(
    section: &serde_json::Value,
    metadata_source: String,
) -> Result<Wdk, TryFromCargoMetadataError> {
    Wdk::deserialize(section).map_err(
        |error_source| TryFromCargoMetadataError::WdkMetadataDeserialization {
            metadata_source,
            error_source,
        },
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::KmdfConfig;

    fn package(name: &str, wdk: &serde_json::Value) -> serde_json::Value {
        json!({ "name": name, "metadata": { "wdk": wdk } })
    }

    fn read(
        packages: &[serde_json::Value],
        workspace: &serde_json::Value,
    ) -> Result<Wdk, TryFromCargoMetadataError> {
        Wdk::try_from_cargo_metadata(&json!({ "packages": packages, "metadata": { "wdk": workspace } }))
    }

    #[test]
    fn one_configuration_shared_by_several_members() {
        let wdm = json!({ "driver-model": { "driver-type": "WDM" } });
        let wdk = read(
            &[package("a", &wdm), package("b", &wdm), package("c", &json!({}))],
            &json!(null),
        )
        .unwrap();
        assert_eq!(wdk.driver_model, DriverConfig::Wdm);
    }

    #[test]
    fn kmdf_fields_are_read() {
        let kmdf = json!({ "driver-model": {
            "driver-type": "KMDF", "kmdf-version-major": 1, "target-kmdf-version-minor": 33 } });
        let wdk = read(&[package("a", &kmdf)], &json!(null)).unwrap();
        assert_eq!(
            wdk.driver_model,
            DriverConfig::Kmdf(KmdfConfig {
                kmdf_version_major: 1,
                target_kmdf_version_minor: 33,
                minimum_kmdf_version_minor: None
            })
        );
    }

    #[test]
    fn keys_beside_the_wdm_tag_pass_as_in_the_real_crate() {
        // serde's internally tagged unit variant ignores the other keys even
        // with deny_unknown_fields; the real crate has the same attributes.
        let wdm = json!({ "driver-model": { "driver-type": "WDM", "extra": 1 } });
        assert_eq!(
            read(&[package("a", &wdm)], &json!(null)).unwrap().driver_model,
            DriverConfig::Wdm
        );
    }

    #[test]
    fn none_is_an_error() {
        let err = read(&[package("a", &json!(null))], &json!(null)).unwrap_err();
        assert!(matches!(
            err,
            TryFromCargoMetadataError::NoWdkConfigurationsDetected
        ));
    }

    #[test]
    fn two_distinct_are_an_error() {
        let wdm = json!({ "driver-model": { "driver-type": "WDM" } });
        let umdf = json!({ "driver-model": {
            "driver-type": "UMDF", "umdf-version-major": 2, "target-umdf-version-minor": 33 } });
        let err = read(&[package("a", &wdm)], &umdf).unwrap_err();
        assert!(matches!(
            err,
            TryFromCargoMetadataError::MultipleWdkConfigurationsDetected { .. }
        ));
    }

    #[test]
    fn bad_sections_are_deserialization_errors() {
        for bad in [
            json!({ "driver-model": { "random-key": "random-value" } }),
            json!({ "driver-model": { "driver-type": "wdm" } }),
            json!({ "driver-model": { "driver-type": "KMDF", "kmdf-version-major": 1 } }),
            json!({ "driver-model": { "driver-type": "KMDF", "kmdf-version-major": 300,
                                      "target-kmdf-version-minor": 33 } }),
            json!({ "driver-model": { "driver-type": "WDM" }, "other": true }),
        ] {
            let err = read(&[package("a", &bad)], &json!(null)).unwrap_err();
            assert!(
                matches!(err, TryFromCargoMetadataError::WdkMetadataDeserialization { .. }),
                "{bad} gave {err:?}"
            );
        }
    }
}
