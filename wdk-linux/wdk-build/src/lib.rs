//! Linux stand-in for the `wdk-build` crate.
//!
//! The real `wdk-build` locates an installed Windows Driver Kit and refuses to
//! build on a non-Windows host. This crate keeps the part of its build-script
//! API that drivers and the `wdk*` crates call, and implements it without a
//! WDK:
//!
//! * every configure function emits the `driver_model__driver_type` check-cfg,
//!   and, **only when the target OS is Windows**, the cfg itself, so that the
//!   real `wdk`, `wdk-alloc` and `wdk-panic` compile their kernel-mode code for
//!   the driver and stay inert (plain `std` crates) in host test builds;
//! * [`configure_wdk_binary_build`] additionally emits the kernel-driver link
//!   arguments (`/DRIVER`, `/SUBSYSTEM:NATIVE`, `/ENTRY:DriverEntry`,
//!   `/INTEGRITYCHECK`, ...) when the target is Windows.
//!
//! Only the WDM driver model is supported: KMDF and UMDF need WDF bindings
//! that mingw-w64's headers do not provide.

use std::{env, fmt, fs, path::PathBuf};

/// The cfg key the `wdk*` crates test, as the real `wdk-build` spells it.
const DRIVER_MODEL_CFG: &str = "driver_model__driver_type";

/// Environment variable that overrides the driver model (default `WDM`).
pub const DRIVER_TYPE_ENV: &str = "WDK_LINUX_DRIVER_TYPE";

/// The driver models the real crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverConfig {
    /// Windows Driver Model.
    Wdm,
    /// Kernel-Mode Driver Framework (not supported by this stand-in).
    Kmdf,
    /// User-Mode Driver Framework (not supported by this stand-in).
    Umdf,
}

impl DriverConfig {
    /// The value the real crate uses for the cfg.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Wdm => "WDM",
            Self::Kmdf => "KMDF",
            Self::Umdf => "UMDF",
        }
    }

    fn parse(text: &str) -> Result<Self, ConfigError> {
        match text.trim().to_ascii_uppercase().as_str() {
            "WDM" => Ok(Self::Wdm),
            "KMDF" | "UMDF" => Err(ConfigError::UnsupportedDriverModel(text.trim().to_owned())),
            _ => Err(ConfigError::InvalidDriverModel(text.trim().to_owned())),
        }
    }
}

/// Errors of the configure functions.
#[derive(Debug)]
pub enum ConfigError {
    /// A driver model this stand-in cannot build (KMDF/UMDF).
    UnsupportedDriverModel(String),
    /// A `driver-type` value that is not a driver model.
    InvalidDriverModel(String),
    /// A build-script environment variable cargo always sets was missing.
    MissingEnv(&'static str),
    /// Reading the package manifest failed.
    Io(std::io::Error),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedDriverModel(m) => write!(
                f,
                "driver model {m} is not supported by the Linux stand-in wdk-build (WDM only)"
            ),
            Self::InvalidDriverModel(m) => write!(f, "`{m}` is not a driver model (WDM, KMDF, UMDF)"),
            Self::MissingEnv(v) => write!(f, "cargo did not set {v}"),
            Self::Io(e) => write!(f, "reading Cargo.toml: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<std::io::Error> for ConfigError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
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
    /// Reads the configuration from cargo's build-script environment: the
    /// driver model from `$WDK_LINUX_DRIVER_TYPE`, else from the package's
    /// `[package.metadata.wdk.driver-model] driver-type`, else `WDM`.
    ///
    /// # Errors
    /// An unknown or unsupported driver model, or an unreadable manifest.
    pub fn from_env_auto() -> Result<Self, ConfigError> {
        let target_os =
            env::var("CARGO_CFG_TARGET_OS").map_err(|_| ConfigError::MissingEnv("CARGO_CFG_TARGET_OS"))?;
        let driver_config = if let Ok(value) = env::var(DRIVER_TYPE_ENV) {
            DriverConfig::parse(&value)?
        } else if let Some(value) = manifest_driver_type()? {
            DriverConfig::parse(&value)?
        } else {
            DriverConfig::Wdm
        };
        Ok(Self { driver_config, target_is_windows: target_os == "windows" })
    }

    /// Emits the cfg settings (and their check-cfg) for the crate being built.
    pub fn configure_library_build(&self) {
        println!("cargo::rerun-if-env-changed={DRIVER_TYPE_ENV}");
        println!(
            "cargo::rustc-check-cfg=cfg({DRIVER_MODEL_CFG}, values(\"WDM\", \"KMDF\", \"UMDF\"))"
        );
        if self.target_is_windows {
            println!("cargo::rustc-cfg={DRIVER_MODEL_CFG}=\"{}\"", self.driver_config.as_str());
        }
    }

    /// Emits the library configuration plus the kernel-driver link arguments
    /// (Windows target only).
    pub fn configure_binary_build(&self) {
        self.configure_library_build();
        if self.target_is_windows {
            for arg in DRIVER_LINK_ARGS {
                println!("cargo::rustc-cdylib-link-arg={arg}");
            }
        }
    }
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

/// Reads `driver-type` from `[package.metadata.wdk.driver-model]` of the
/// package being built, if it has one.
fn manifest_driver_type() -> Result<Option<String>, ConfigError> {
    let Some(dir) = env::var_os("CARGO_MANIFEST_DIR") else {
        return Ok(None);
    };
    let manifest = PathBuf::from(dir).join("Cargo.toml");
    println!("cargo::rerun-if-changed={}", manifest.display());
    let text = fs::read_to_string(manifest)?;
    let mut in_section = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[package.metadata.wdk.driver-model]";
        } else if in_section
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "driver-type"
        {
            return Ok(Some(value.trim().trim_matches('"').to_owned()));
        }
    }
    Ok(None)
}

/// Configures a driver binary's build script (`build.rs` of the driver).
///
/// # Errors
/// See [`Config::from_env_auto`].
pub fn configure_wdk_binary_build() -> Result<(), ConfigError> {
    Config::from_env_auto()?.configure_binary_build();
    Ok(())
}

/// Configures a library crate's build script (used by `wdk`, `wdk-alloc`, ...).
///
/// # Errors
/// See [`Config::from_env_auto`].
pub fn configure_wdk_library_build() -> Result<(), ConfigError> {
    Config::from_env_auto()?.configure_library_build();
    Ok(())
}

/// Configures a library crate's build script, then runs `f` with the
/// configuration (used by `wdk-sys`).
///
/// # Errors
/// See [`Config::from_env_auto`], or whatever `f` returns.
pub fn configure_wdk_library_build_and_then<F, E>(mut f: F) -> Result<(), E>
where
    F: FnMut(Config) -> Result<(), E>,
    E: From<ConfigError>,
{
    let config = Config::from_env_auto()?;
    config.configure_library_build();
    f(config)
}
