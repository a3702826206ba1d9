//! The scrutiny tasks: the loom model, Miri, fuzzing and the benchmarks.
//!
//! * `loom`: the ring's push/pop protocol under loom's model checker.
//! * `miri`: the ring's and the wire format's tests under Miri (nightly).
//!   Run in a copy of the workspace under `target/miri-ws`, because the
//!   nightly cargo resolves `Cargo.lock` differently from the stable one.
//! * `fuzz <target> <seconds>`: one cargo-fuzz target for a bounded time.
//! * `bench`: criterion (`ring.push: ... ratio ...`) and callgrind
//!   instruction counts (`ring.push instructions/event: N`).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::runcmd::run_checked;
use crate::util::{Result, bail, cargo_main, find_program, run_captured};

const LIMIT: Duration = Duration::from_secs(30 * 60);

/// The fuzz targets (`fuzz/fuzz_targets/*.rs`).
pub const FUZZ_TARGETS: &[&str] = &[
    "ioctl_request",
    "record_decode",
    "kcbctl_decode_dump",
    "parameters",
];

/// `cargo xtask loom`.
///
/// # Errors
/// A failing model.
pub fn loom(root: &Path) -> Result<()> {
    run_checked(
        cargo_main(
            root,
            &[
                "test",
                "-p",
                "kcb-ring",
                "--test",
                "loom",
                "--test",
                "loom_bytes",
                "--release",
            ],
        )
        .env("RUSTFLAGS", "--cfg loom")
        .env("CARGO_TARGET_DIR", root.join("target/loom")),
        LIMIT,
    )
}

fn rustup(args: &[&str]) -> Result<()> {
    run_checked(Command::new("rustup").args(args), LIMIT)
}

/// Makes sure a nightly toolchain with `components` exists.
fn nightly_with(components: &[&str]) -> Result<()> {
    let installed = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output();
    if !installed.is_ok_and(|o| o.status.success()) {
        rustup(&["toolchain", "install", "nightly", "--profile", "minimal"])?;
    }
    let mut args = vec!["component", "add", "--toolchain", "nightly"];
    args.extend_from_slice(components);
    rustup(&args)
}

/// `cargo xtask miri`.
///
/// # Errors
/// Toolchain set-up or a failing test.
pub fn miri(root: &Path) -> Result<()> {
    nightly_with(&["miri", "rust-src"])?;
    let ws = root.join("target/miri-ws");
    let _ = fs::remove_dir_all(ws.join("crates"));
    for dir in ["crates/kcb-proto", "crates/kcb-ring"] {
        copy_tree(&root.join(dir), &ws.join(dir))?;
    }
    // A workspace of just the two crates, with the root's package fields.
    let manifest =
        fs::read_to_string(root.join("Cargo.toml")).map_err(|e| crate::util::Error(e.to_string()))?;
    let package = manifest
        .split("[workspace.package]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap_or("");
    let lints = manifest
        .split("[workspace.lints.rust]")
        .nth(1)
        .map(|rest| {
            format!(
                "[workspace.lints.rust]{}",
                rest.split("\n[package]").next().unwrap_or("")
            )
        })
        .unwrap_or_default();
    let text = format!(
        "[workspace]\nmembers = [\"crates/kcb-proto\", \"crates/kcb-ring\"]\nresolver = \"3\"\n\n\
         [workspace.package]{package}\n{lints}"
    );
    fs::write(ws.join("Cargo.toml"), text).map_err(|e| crate::util::Error(e.to_string()))?;
    run_checked(
        Command::new("cargo")
            .current_dir(&ws)
            .args(["+nightly", "miri", "test", "-p", "kcb-ring", "-p", "kcb-proto"])
            .env("MIRIFLAGS", "-Zmiri-many-seeds=0..2")
            .env_remove("CARGO")
            .env_remove("RUSTUP_TOOLCHAIN"),
        LIMIT,
    )
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).map_err(|e| crate::util::Error(format!("{}: {e}", to.display())))?;
    for entry in fs::read_dir(from).map_err(|e| crate::util::Error(format!("{}: {e}", from.display())))? {
        let entry = entry.map_err(|e| crate::util::Error(e.to_string()))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &target)?;
        } else {
            fs::copy(&path, &target).map_err(|e| crate::util::Error(format!("{}: {e}", path.display())))?;
        }
    }
    Ok(())
}

/// `cargo xtask fuzz <target> <seconds>`.
///
/// # Errors
/// Set-up failure, an unknown target, or a crash found.
pub fn fuzz(root: &Path, target: &str, seconds: u64) -> Result<()> {
    if !FUZZ_TARGETS.contains(&target) {
        bail!(
            "unknown fuzz target `{target}` (one of: {})",
            FUZZ_TARGETS.join(", ")
        );
    }
    nightly_with(&["rust-src"])?;
    let have_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output();
    if !have_fuzz.is_ok_and(|o| o.status.success()) {
        run_checked(
            Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]),
            LIMIT,
        )?;
    }
    let max_time = format!("-max_total_time={seconds}");
    run_checked(
        Command::new("cargo")
            .current_dir(root.join("fuzz"))
            .args(["+nightly", "fuzz", "run", target, "--", &max_time])
            .env_remove("CARGO")
            .env_remove("RUSTUP_TOOLCHAIN"),
        LIMIT,
    )
}

/// `cargo xtask bench [--quick]`: criterion in one run (single producer,
/// two producers, and the plain-copy baseline, with the ratio line), then
/// callgrind instructions per push.
///
/// # Errors
/// A failing build or run, or unparsable valgrind output.
pub fn bench(root: &Path, quick: bool) -> Result<()> {
    let mut args = vec!["bench", "-p", "kcb-ring", "--bench", "ring"];
    if quick {
        args.extend_from_slice(&["--", "--warm-up-time", "1", "--measurement-time", "2"]);
    }
    run_checked(&mut cargo_main(root, &args), LIMIT)?;
    let per_push = instructions_per_push(root)?;
    println!("ring.push instructions/event: {per_push:.1}");
    Ok(())
}

/// Callgrind instruction totals for 1000 and 101000 pushes; the difference
/// over 100000 is the cost of one push (plus its loop iteration).
fn instructions_per_push(root: &Path) -> Result<f64> {
    if find_program("valgrind").is_none() {
        bail!("valgrind is not installed (cargo xtask setup installs it)");
    }
    run_checked(
        &mut cargo_main(
            root,
            &["build", "--release", "-p", "kcb-ring", "--example", "push_count"],
        ),
        LIMIT,
    )?;
    let exe = root.join("target/release/examples/push_count");
    let count = |n: u64| -> Result<u64> {
        let captured = run_captured(
            Command::new("valgrind")
                .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
                .arg(&exe)
                .arg(n.to_string()),
            &root.join("target/bench"),
            LIMIT,
        )?;
        captured
            .stderr
            .lines()
            .find_map(|l| {
                l.split("Collected :")
                    .nth(1)
                    .or_else(|| l.split("I   refs:").nth(1))
            })
            .and_then(|v| v.trim().replace(',', "").parse().ok())
            .ok_or_else(|| {
                crate::util::Error(format!(
                    "no instruction total in valgrind output: {}",
                    captured.stderr
                ))
            })
    };
    let small = count(1_000)?;
    let large = count(101_000)?;
    #[allow(clippy::cast_precision_loss, reason = "instruction counts are far below 2^52")]
    let per_push = large.saturating_sub(small) as f64 / 100_000.0;
    println!("callgrind: {small} instructions for 1000 pushes, {large} for 101000");
    Ok(per_push)
}
