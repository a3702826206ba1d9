//! `cargo xtask setup`: the Rust targets and Debian packages the project needs.
//! Idempotent; a no-op (well under a second) when everything is there.

use std::process::Command;
use std::time::Duration;

use crate::runcmd::run_checked;
use crate::util::{Context, Result, bail, find_program, run_captured};

/// Rust targets: the driver (MSVC ABI, linked by rust-lld) and the user-mode
/// client (GNU ABI, linked by mingw-w64's gcc).
pub const RUST_TARGETS: &[&str] = &["x86_64-pc-windows-msvc", "x86_64-pc-windows-gnu"];

/// Debian packages, each with what it is for.
pub const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    (
        "wine64",
        "loads the driver (winedevice.exe) for the end-to-end run",
    ),
    ("clang", "bindgen's C front end for the stand-in wdk-sys"),
    ("libclang-dev", "libclang for bindgen"),
    ("llvm", "llvm-dlltool: ntoskrnl.lib / hal.lib import libraries"),
    ("lld", "lld-link"),
    (
        "mingw-w64-x86-64-dev",
        "the DDK headers the stand-in wdk-sys binds",
    ),
    (
        "gcc-mingw-w64-x86-64",
        "linker of kcbctl.exe, compiler of the ProcessPrng shim",
    ),
    ("osslsigncode", "Authenticode signing of the .sys files"),
    ("openssl", "the throw-away test-signing certificate"),
    ("valgrind", "memory checks of host tests"),
];

const APT_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Installs what is missing; prints what it did.
pub fn setup() -> Result<()> {
    rust_targets()?;
    debian_packages()
}

fn rust_targets() -> Result<()> {
    if find_program("rustup").is_none() {
        println!(
            "setup: rustup not found; make sure these targets are installed: {}",
            RUST_TARGETS.join(", ")
        );
        return Ok(());
    }
    let scratch = std::env::temp_dir();
    let listed = run_captured(
        Command::new("rustup").args(["target", "list", "--installed"]),
        &scratch,
        Duration::from_secs(60),
    )?;
    if !listed.ended.success() {
        bail!(
            "`rustup target list --installed` failed ({}): {}",
            listed.ended,
            listed.stderr.trim()
        );
    }
    let installed: Vec<&str> = listed.stdout.lines().map(str::trim).collect();
    let missing: Vec<&str> = RUST_TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.contains(t))
        .collect();
    if missing.is_empty() {
        println!("setup: rust targets present ({})", RUST_TARGETS.join(", "));
        return Ok(());
    }
    println!("setup: rustup target add {}", missing.join(" "));
    run_checked(
        Command::new("rustup").args(["target", "add"]).args(&missing),
        Duration::from_secs(15 * 60),
    )
}

fn package_installed(name: &str) -> Result<bool> {
    let out = run_captured(
        Command::new("dpkg-query").args(["-W", "-f=${db:Status-Abbrev}", name]),
        &std::env::temp_dir(),
        Duration::from_secs(30),
    )?;
    // "ii " = desired install, currently installed.
    Ok(out.ended.success() && out.stdout.starts_with("ii"))
}

fn debian_packages() -> Result<()> {
    if find_program("dpkg-query").is_none() {
        println!(
            "setup: not a Debian system (no dpkg-query); install the equivalents of: {}",
            DEBIAN_PACKAGES
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
                .join(" ")
        );
        return Ok(());
    }
    let mut missing = Vec::new();
    for (name, _) in DEBIAN_PACKAGES {
        if !package_installed(name)? {
            missing.push(*name);
        }
    }
    if missing.is_empty() {
        println!("setup: debian packages present ({})", DEBIAN_PACKAGES.len());
        return Ok(());
    }
    for name in &missing {
        let why = DEBIAN_PACKAGES
            .iter()
            .find(|(p, _)| p == name)
            .map_or("", |(_, w)| w);
        println!("setup: missing package {name} ({why})");
    }
    let as_root = is_root();
    let apt = |args: &[&str]| -> Command {
        let mut cmd = if as_root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    if !as_root && find_program("sudo").is_none() {
        bail!(
            "missing Debian packages and not root (no sudo): apt-get install {}",
            missing.join(" ")
        );
    }
    println!("setup: apt-get update");
    run_checked(&mut apt(&["update", "-q"]), APT_LIMIT).ctx("apt-get update")?;
    println!("setup: apt-get install {}", missing.join(" "));
    let mut args = vec!["install", "-y", "-q"];
    args.extend(&missing);
    run_checked(&mut apt(&args), APT_LIMIT).ctx("apt-get install")?;
    Ok(())
}

fn is_root() -> bool {
    // std has no getuid; `id -u` is in coreutils.
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
