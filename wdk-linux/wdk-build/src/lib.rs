//! Linux stand-in for the `wdk-build` crate (real: 0.6.0).
//!
//! The real `wdk-build` locates an installed Windows Driver Kit and refuses to
//! build on a non-Windows host. This crate keeps the part of its build-script
//! API that drivers and the `wdk*` crates call, implements it without a WDK,
//! and refuses what the real crate refuses wherever that can apply on Linux
//! (the list of mirrored and unmirrored checks is in `wdk-linux/README.md`):
//!
//! * the configuration is read as the real crate reads it: the top-level
//!   manifest is the one next to the `Cargo.lock` above `OUT_DIR`; `cargo
//!   metadata` lists the workspace; every `[package.metadata.wdk]` and the
//!   `[workspace.metadata.wdk]` section is deserialized with the real crate's
//!   rules, and exactly one distinct configuration must result
//!   ([`metadata::TryFromCargoMetadataError`]);
//! * [`configure_wdk_binary_build`] returns [`ConfigError::StaticCrtNotEnabled`]
//!   unless the target has the `crt-static` feature, as the real crate does;
//! * every configure function emits the `driver_model__driver_type`
//!   check-cfg, and, **only when the target OS is Windows**, the cfg itself,
//!   so that the real `wdk`, `wdk-alloc` and `wdk-panic` compile their
//!   kernel-mode code for the driver and stay inert (plain `std` crates) in
//!   host test builds;
//! * [`configure_wdk_binary_build`] additionally emits the kernel-driver link
//!   arguments when the target is Windows.
//!
//! Only the WDM driver model can be built: KMDF and UMDF need WDF bindings
//! that mingw-w64's headers do not provide ([`ConfigError::UnsupportedDriverModel`],
//! an error of this stand-in only).

use std::{
    env, fmt,
    path::{Path, PathBuf},
    process::Command,
};

use serde::Deserialize;

pub mod metadata;

/// The cfg key the `wdk*` crates test, as the real `wdk-build` spells it.
const DRIVER_MODEL_CFG: &str = "driver_model__driver_type";

/// KMDF parameters of a driver (as the real `wdk_build::KmdfConfig`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KmdfConfig {
    /// `kmdf-version-major`.
    pub kmdf_version_major: u8,
    /// `target-kmdf-version-minor`.
    pub target_kmdf_version_minor: u8,
    /// `minimum-kmdf-version-minor` (optional).
    pub minimum_kmdf_version_minor: Option<u8>,
}

/// UMDF parameters of a driver (as the real `wdk_build::UmdfConfig`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UmdfConfig {
    /// `umdf-version-major`.
    pub umdf_version_major: u8,
    /// `target-umdf-version-minor`.
    pub target_umdf_version_minor: u8,
    /// `minimum-umdf-version-minor` (optional).
    pub minimum_umdf_version_minor: Option<u8>,
}

/// The driver model with its parameters (as the real `wdk_build::DriverConfig`,
/// deserialized from `driver-model` with the same rules: `driver-type` tag,
/// values `WDM`/`KMDF`/`UMDF` exactly, unknown keys rejected).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Hash)]
#[serde(tag = "driver-type", deny_unknown_fields, rename_all = "UPPERCASE")]
pub enum DriverConfig {
    /// Windows Driver Model.
    Wdm,
    /// Kernel-Mode Driver Framework (not buildable with this stand-in).
    Kmdf(KmdfConfig),
    /// User-Mode Driver Framework (not buildable with this stand-in).
    Umdf(UmdfConfig),
}

impl DriverConfig {
    /// The value the real crate uses for the cfg.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Wdm => "WDM",
            Self::Kmdf(_) => "KMDF",
            Self::Umdf(_) => "UMDF",
        }
    }
}

/// Errors of the configure functions. The variants that exist in the real
/// `wdk_build::ConfigError` keep its names; [`Self::UnsupportedDriverModel`]
/// is this stand-in's own.
#[derive(Debug)]
pub enum ConfigError {
    /// An I/O operation failed.
    IoError(std::io::Error),
    /// `cargo metadata` could not be run or its output not parsed.
    CargoMetadataError(String),
    /// The `metadata.wdk` sections do not give exactly one valid configuration.
    TryFromCargoMetadataError(metadata::TryFromCargoMetadataError),
    /// The C runtime is not linked statically (`+crt-static` missing) for a
    /// driver binary.
    StaticCrtNotEnabled,
    /// A driver model this stand-in cannot build (KMDF/UMDF).
    UnsupportedDriverModel(DriverConfig),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IoError(e) => write!(f, "{e}"),
            Self::CargoMetadataError(e) => write!(f, "cargo metadata: {e}"),
            Self::TryFromCargoMetadataError(e) => write!(f, "{e}"),
            Self::StaticCrtNotEnabled => f.write_str(
                "the C runtime is not properly configured to be statically linked. This is required for \
                 building WDK drivers. The recommended solution is to add the following snippet to a \
                 `.cargo/config.toml` file:\n[build]\nrustflags = [\"-C\", \"target-feature=+crt-static\"]\n\n\
                 See https://doc.rust-lang.org/reference/linkage.html#static-and-dynamic-c-runtimes for more \
                 ways to enable static crt linkage",
            ),
            Self::UnsupportedDriverModel(m) => write!(
                f,
                "driver model {} is not supported by the Linux stand-in wdk-build (WDM only)",
                m.as_str()
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<std::io::Error> for ConfigError {
    fn from(e: std::io::Error) -> Self {
        Self::IoError(e)
    }
}

impl From<metadata::TryFromCargoMetadataError> for ConfigError {
    fn from(e: metadata::TryFromCargoMetadataError) -> Self {
        Self::TryFromCargoMetadataError(e)
    }
}

/// What a build script learns about the build it configures.
#[derive(Debug, Clone)]
pub struct Config {
    /// The driver model.
    pub driver_config: DriverConfig,
    /// Whether the compilation target is Windows (the driver) rather than the
    /// Linux host (tests against the kernel model).
    pub target_is_windows: bool,
}

impl Config {
    /// Reads the configuration as the real crate does: `cargo metadata` of
    /// the top-level manifest ([`find_top_level_cargo_manifest`]), then
    /// [`metadata::Wdk::try_from_cargo_metadata`]. Emits
    /// `cargo::rerun-if-changed` for every manifest read.
    ///
    /// # Errors
    /// `cargo metadata` failing, or the `metadata.wdk` sections not giving
    /// exactly one valid configuration.
    pub fn from_env_auto() -> Result<Self, ConfigError> {
        let top = find_top_level_cargo_manifest();
        let metadata = cargo_metadata(&top)?;
        let wdk = metadata::Wdk::try_from_cargo_metadata(&metadata)?;
        for package in metadata["packages"].as_array().into_iter().flatten() {
            if let Some(path) = package["manifest_path"].as_str() {
                println!("cargo::rerun-if-changed={path}");
            }
        }
        println!("cargo::rerun-if-changed={}", top.display());
        let target_is_windows = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "windows");
        Ok(Self {
            driver_config: wdk.driver_model,
            target_is_windows,
        })
    }

    /// Emits the `cargo::rustc-check-cfg` of every cfg this crate can set.
    pub fn emit_check_cfg_settings() {
        println!("cargo::rustc-check-cfg=cfg({DRIVER_MODEL_CFG}, values(\"WDM\", \"KMDF\", \"UMDF\"))");
    }

    /// Emits the cfg settings (and their check-cfg) for the crate being built.
    ///
    /// # Errors
    /// [`ConfigError::UnsupportedDriverModel`] for KMDF and UMDF.
    pub fn configure_library_build(&self) -> Result<(), ConfigError> {
        if self.driver_config != DriverConfig::Wdm {
            return Err(ConfigError::UnsupportedDriverModel(self.driver_config.clone()));
        }
        Self::emit_check_cfg_settings();
        if self.target_is_windows {
            println!(
                "cargo::rustc-cfg={DRIVER_MODEL_CFG}=\"{}\"",
                self.driver_config.as_str()
            );
        }
        Ok(())
    }

    /// Checks the static C runtime, then emits the library configuration plus
    /// the kernel-driver link arguments (Windows target only).
    ///
    /// # Errors
    /// [`ConfigError::StaticCrtNotEnabled`] when a Windows target lacks
    /// `+crt-static` (the real crate checks every target; a host build of
    /// the stand-in is a Linux test build, which it does not check), or what
    /// [`Self::configure_library_build`] returns.
    pub fn configure_binary_build(&self) -> Result<(), ConfigError> {
        if self.target_is_windows
            && !is_crt_static_linked(&env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default())
        {
            return Err(ConfigError::StaticCrtNotEnabled);
        }
        self.configure_library_build()?;
        if self.target_is_windows {
            for arg in DRIVER_LINK_ARGS {
                println!("cargo::rustc-cdylib-link-arg={arg}");
            }
        }
        Ok(())
    }
}

/// The real crate's test: `CARGO_CFG_TARGET_FEATURE` contains `crt-static`.
#[must_use]
pub fn is_crt_static_linked(target_features: &str) -> bool {
    target_features.contains("crt-static")
}

/// The link arguments of a kernel-mode WDM driver image (lld-link / link.exe).
///
/// `/INTEGRITYCHECK` sets `IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY`, which
/// `PsSetCreateProcessNotifyRoutineEx` and `ObRegisterCallbacks` require.
pub const DRIVER_LINK_ARGS: &[&str] = &[
    "/NODEFAULTLIB",
    "/SUBSYSTEM:NATIVE",
    "/DRIVER",
    "/ENTRY:DriverEntry",
    "/INTEGRITYCHECK",
    "/DYNAMICBASE",
    "/NXCOMPAT",
];

/// The top-level manifest: the `Cargo.toml` next to the first `Cargo.lock`
/// above `OUT_DIR` (as the real crate finds it).
///
/// # Panics
/// Outside a build script, or when no ancestor of `OUT_DIR` has a
/// `Cargo.lock` (as the real crate).
#[must_use]
pub fn find_top_level_cargo_manifest() -> PathBuf {
    let out_dir = PathBuf::from(
        env::var("OUT_DIR")
            .expect("Cargo should have set the OUT_DIR environment variable when executing build.rs"),
    );
    out_dir
        .ancestors()
        .find(|path| path.join("Cargo.lock").exists())
        .expect("a Cargo.lock file should exist in the same directory as the top-level Cargo.toml")
        .join("Cargo.toml")
}

/// `cargo metadata --no-deps` of `manifest`, run in its folder.
///
/// `--no-deps`: the real crate resolves the whole graph, which would re-resolve
/// (and rewrite) `Cargo.lock` without the stand-in patch, since options given
/// with `--config` do not reach a nested cargo. The workspace's packages carry
/// every `metadata.wdk` section of this project.
fn cargo_metadata(manifest: &Path) -> Result<serde_json::Value, ConfigError> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let dir = manifest.parent().unwrap_or_else(|| Path::new("."));
    let output = Command::new(cargo)
        .current_dir(dir)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()?;
    if !output.status.success() {
        return Err(ConfigError::CargoMetadataError(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| ConfigError::CargoMetadataError(e.to_string()))
}

/// Configures a driver binary's build script (`build.rs` of the driver).
///
/// # Errors
/// See [`Config::from_env_auto`] and [`Config::configure_binary_build`].
pub fn configure_wdk_binary_build() -> Result<(), ConfigError> {
    Config::from_env_auto()?.configure_binary_build()
}

/// Configures a library crate's build script (used by `wdk`, `wdk-alloc`, ...).
/// A graph without any WDK configuration is not an error (check-cfg only),
/// as in the real crate.
///
/// # Errors
/// See [`Config::from_env_auto`] and [`Config::configure_library_build`].
pub fn configure_wdk_library_build() -> Result<(), ConfigError> {
    match Config::from_env_auto() {
        Ok(config) => config.configure_library_build(),
        Err(ConfigError::TryFromCargoMetadataError(
            metadata::TryFromCargoMetadataError::NoWdkConfigurationsDetected,
        )) => {
            Config::emit_check_cfg_settings();
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Configures a library crate's build script, then runs `f` with the
/// configuration (used by `wdk-sys`). Without any WDK configuration, `f` is
/// not run (as in the real crate).
///
/// # Errors
/// See [`configure_wdk_library_build`], or whatever `f` returns.
pub fn configure_wdk_library_build_and_then<F, E>(mut f: F) -> Result<(), E>
where
    F: FnMut(Config) -> Result<(), E>,
    E: From<ConfigError>,
{
    match Config::from_env_auto() {
        Ok(config) => {
            config.configure_library_build()?;
            f(config)
        }
        Err(ConfigError::TryFromCargoMetadataError(
            metadata::TryFromCargoMetadataError::NoWdkConfigurationsDetected,
        )) => {
            Config::emit_check_cfg_settings();
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crt_static_is_detected_in_the_feature_list() {
        assert!(is_crt_static_linked("crt-static,fxsr,sse,sse2"));
        assert!(!is_crt_static_linked("fxsr,sse,sse2"));
    }
}
