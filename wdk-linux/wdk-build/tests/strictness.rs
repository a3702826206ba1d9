//! The stand-in refuses what the real `wdk-build` 0.6.0 refuses: a driver
//! crate whose build script calls `configure_wdk_binary_build`, built for
//! `x86_64-pc-windows-msvc` with `cargo check`, under each configuration the
//! real crate rejects. The build script's error (`main` returns the
//! `ConfigError`, printed with `Debug`) names the variant.
//!
//! The crate is written to a folder outside the repository so that no
//! `.cargo/config.toml` applies, and `CARGO_ENCODED_RUSTFLAGS` sets the flags
//! of each run exactly.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "x86_64-pc-windows-msvc";
const CRT_STATIC: &str = "-Ctarget-feature=+crt-static";

struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = std::env::temp_dir().join("kcb-wdk-build-strictness");
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(
            dir.join("src/lib.rs"),
            "//! A driver crate for the stand-in's tests.\n#![no_std]\n",
        )
        .unwrap();
        fs::write(dir.join("build.rs"), "fn main() -> Result<(), wdk_build::ConfigError> {\n    wdk_build::configure_wdk_binary_build()\n}\n").unwrap();
        Self { dir }
    }

    /// Writes the manifest with `extra` appended and runs `cargo check`.
    /// Returns (success, stderr).
    fn check(&self, extra: &str, target: Option<&str>, rustflags: &str) -> (bool, String) {
        let stand_in = Path::new(env!("CARGO_MANIFEST_DIR"));
        let manifest = format!(
            "[package]\nname = \"fixture-driver\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
             [lib]\ncrate-type = [\"rlib\"]\n\n[build-dependencies]\nwdk-build = {{ path = {:?} }}\n\n\
             [workspace]\n\n{extra}",
            stand_in.display().to_string()
        );
        fs::write(self.dir.join("Cargo.toml"), manifest).unwrap();
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(&self.dir)
            .args(["check", "--quiet"])
            .env("CARGO_ENCODED_RUSTFLAGS", rustflags);
        // The crate's own target folder (next to its Cargo.lock, where the
        // real crate and the stand-in look for the top-level manifest).
        cmd.env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET");
        if let Some(target) = target {
            cmd.args(["--target", target]);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

const WDM: &str = "[package.metadata.wdk.driver-model]\ndriver-type = \"WDM\"\n";

fn expect_error(result: &(bool, String), variant: &str) {
    assert!(!result.0, "the build succeeded; expected {variant}");
    assert!(
        result.1.contains(&format!("Error: {variant}")),
        "expected {variant}, stderr:\n{}",
        result.1
    );
}

#[test]
fn the_stand_in_refuses_what_the_real_crate_refuses() {
    let f = Fixture::new();

    // The real crate: `configure_binary_build` returns StaticCrtNotEnabled
    // unless CARGO_CFG_TARGET_FEATURE contains crt-static.
    expect_error(&f.check(WDM, Some(TARGET), ""), "StaticCrtNotEnabled");

    let ok = f.check(WDM, Some(TARGET), CRT_STATIC);
    assert!(ok.0, "WDM with +crt-static must build:\n{}", ok.1);

    // No `metadata.wdk` anywhere: a binary build is an error.
    expect_error(
        &f.check("", Some(TARGET), CRT_STATIC),
        "TryFromCargoMetadataError(NoWdkConfigurationsDetected)",
    );

    // Values and keys the real serde rules reject.
    for bad in [
        "[package.metadata.wdk.driver-model]\ndriver-type = \"wdm\"\n",
        "[package.metadata.wdk.driver-model]\ndriver-type = \"UMDF\"\numdf-version-major = 2\n",
        "[package.metadata.wdk.driver-model]\ndriver-type = \"KMDF\"\nkmdf-version-major = 1\n",
        "[package.metadata.wdk]\ndriver-type = \"WDM\"\n",
    ] {
        expect_error(
            &f.check(bad, Some(TARGET), CRT_STATIC),
            "TryFromCargoMetadataError(WdkMetadataDeserialization",
        );
    }

    // A package and the workspace configured differently.
    let both = format!(
        "{WDM}\n[workspace.metadata.wdk.driver-model]\ndriver-type = \"UMDF\"\numdf-version-major = 2\ntarget-umdf-version-minor = 33\n"
    );
    expect_error(
        &f.check(&both, Some(TARGET), CRT_STATIC),
        "TryFromCargoMetadataError(MultipleWdkConfigurationsDetected",
    );

    // The same configuration twice is one configuration.
    let same = format!("{WDM}\n[workspace.metadata.wdk.driver-model]\ndriver-type = \"WDM\"\n");
    let ok = f.check(&same, Some(TARGET), CRT_STATIC);
    assert!(ok.0, "the same WDM configuration twice must build:\n{}", ok.1);

    // A valid KMDF configuration: accepted by the real crate, refused by the
    // stand-in (no WDF bindings from mingw-w64).
    let kmdf = "[package.metadata.wdk.driver-model]\ndriver-type = \"KMDF\"\nkmdf-version-major = 1\ntarget-kmdf-version-minor = 33\n";
    expect_error(
        &f.check(kmdf, Some(TARGET), CRT_STATIC),
        "UnsupportedDriverModel(Kmdf",
    );

    // A Linux host build (tests against the kernel model) is not checked for
    // crt-static: the real crate never builds for a Linux target.
    let host = f.check(WDM, None, "");
    assert!(host.0, "a host build must not need +crt-static:\n{}", host.1);
}
