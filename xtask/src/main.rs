//! `cargo xtask <task>`: developer tasks for kcallbacks on Linux.
//!
//! | task | what |
//! |---|---|
//! | `setup` | rustup targets and Debian packages (idempotent) |
//! | `cargo <cmd> <args>` | patched cargo (`<cmd> --config wdk-linux/config.toml`), `Cargo.lock` kept |
//! | `build` | setup, cross-build + test-sign the drivers, build kcbctl.exe and the Wine shim |
//! | `run` | build, then load the driver under Wine and show what it does |
//! | `test` | everything CI runs (`.ci/run`), ending with `xtask: N passed, M failed` |
//! | `wine-e2e` | the Wine end-to-end test alone (builds first unless `--no-build`) |
//! | `wine-smoke` | the trigger driver alone under Wine (checks the Wine tooling) |
//!
//! The main workspace is always invoked as `cargo --config wdk-linux/config.toml ...`
//! (the Linux stand-ins for `wdk-build` / `wdk-sys`); xtask itself is its own
//! workspace and uses std only. Every task restores `Cargo.lock` when it ends
//! ([`lockfile::Guard`]): the patch rewrites it, the committed one is the
//! crates.io resolution the Windows build uses.

mod artifacts;
mod filesizes;
mod lockfile;
mod logparse;
mod quality;
mod runcmd;
mod scenario;
mod setup;
mod testcmd;
mod util;
mod wine;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use artifacts::{Parts, Paths};
use util::{Result, bail, rel, secs};

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  setup                 install the rustup targets and Debian packages that are missing
  cargo <cmd> <args>    cargo <cmd> --config wdk-linux/config.toml <args> (the stand-ins),
                        then Cargo.lock restored to its crates.io resolution
  build                 setup + cross-build and test-sign the drivers, build kcbctl.exe
                        and the Wine ProcessPrng shim; artifacts in target/kcb/
  run [--reuse-prefix]  build, then load kcallbacks.sys (and the trigger driver) under
                        Wine, show the driver's lines, run `kcbctl report`, unload;
                        ends with `kcallbacks run: SUCCESS` or `... FAILURE: <reason>`
  test                  everything CI runs: setup, xtask self-tests, host tests, build,
                        image/INF checks, the Wine end-to-end test
  wine-e2e [--no-build] the Wine end-to-end test with named checks (fresh prefix)
  wine-smoke            the trigger driver alone under Wine (checks the Wine tooling)
  loom                  the ring's loom model test
  miri                  the ring's and wire format's tests under Miri (nightly)
  fuzz <target> <secs>  one cargo-fuzz target (ioctl_request, record_decode,
                        kcbctl_decode_dump, parameters) for <secs> seconds
  bench [--quick]       criterion ring benchmark (prints `ring.push: ... ratio ...`)
                        and callgrind instructions per push
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = util::repo_root();
    let Some(task) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let options: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    // Patched cargo commands rewrite Cargo.lock; put it back when the task ends.
    let _lock = lockfile::Guard::new(&root);
    let result = match task.as_str() {
        "cargo" => cargo_passthrough(&root, &options),
        "setup" => no_options(&options)
            .and_then(|()| setup::setup())
            .map(|()| ExitCode::SUCCESS),
        "build" => no_options(&options)
            .and_then(|()| build(&root))
            .map(|()| ExitCode::SUCCESS),
        "run" => run(&root, &options),
        "test" => no_options(&options).map(|()| testcmd::test(&root)),
        "wine-e2e" => wine_e2e_task(&root, &options),
        "wine-smoke" => no_options(&options).and_then(|()| wine_smoke(&root)),
        "loom" => no_options(&options)
            .and_then(|()| quality::loom(&root))
            .map(|()| ExitCode::SUCCESS),
        "miri" => no_options(&options)
            .and_then(|()| quality::miri(&root))
            .map(|()| ExitCode::SUCCESS),
        "bench" => match options.as_slice() {
            [] => quality::bench(&root, false).map(|()| ExitCode::SUCCESS),
            ["--quick"] => quality::bench(&root, true).map(|()| ExitCode::SUCCESS),
            _ => Err(util::Error("usage: cargo xtask bench [--quick]".into())),
        },
        "fuzz" => match options.as_slice() {
            [target, seconds] => seconds
                .parse()
                .map_err(|_| util::Error(format!("`{seconds}` is not a number of seconds")))
                .and_then(|s| quality::fuzz(&root, target, s))
                .map(|()| ExitCode::SUCCESS),
            _ => Err(util::Error(format!(
                "usage: cargo xtask fuzz <{}> <seconds>",
                quality::FUZZ_TARGETS.join("|")
            ))),
        },
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprintln!("unknown task `{other}`\n");
            eprint!("{USAGE}");
            Ok(ExitCode::from(2))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask {task}: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask cargo <command> <args>`: `cargo <command> --config
/// wdk-linux/config.toml <args>` in the repository root; `Cargo.lock` is
/// restored afterwards. The option goes after the command: cargo does not
/// hand a `--config` given before it to external commands (`cargo clippy`
/// would build against the real WDK crates).
fn cargo_passthrough(root: &Path, options: &[&str]) -> Result<ExitCode> {
    let Some((command, rest)) = options.split_first() else {
        bail!("usage: cargo xtask cargo <cargo command> [arguments]");
    };
    let _lock = lockfile::Guard::new(root);
    let mut cmd = std::process::Command::new(util::cargo());
    cmd.current_dir(root)
        .arg(command)
        .arg("--config")
        .arg(util::PATCH_CONFIG)
        .args(rest);
    let ended = runcmd::run_inherit(&mut cmd, std::time::Duration::from_secs(3 * 3600))?;
    Ok(if ended.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn no_options(options: &[&str]) -> Result<()> {
    if let Some(o) = options.first() {
        bail!("unexpected argument `{o}`");
    }
    Ok(())
}

fn only_flags(options: &[&str], allowed: &[&str]) -> Result<()> {
    if let Some(o) = options.iter().find(|o| !allowed.contains(o)) {
        bail!("unexpected argument `{o}` (allowed: {})", allowed.join(", "));
    }
    Ok(())
}

/// `setup` then the full build.
fn build(root: &Path) -> Result<()> {
    setup::setup()?;
    artifacts::build(&Paths::new(root), Parts::ALL)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run(root: &Path, options: &[&str]) -> Result<ExitCode> {
    only_flags(options, &["--reuse-prefix"])?;
    let t0 = Instant::now();
    if let Err(e) = build(root) {
        println!("kcallbacks run: FAILURE: build failed: {}", one_line(&e.0));
        return Ok(ExitCode::FAILURE);
    }
    let paths = Paths::new(root);
    let config = wine::Config {
        fresh: !options.contains(&"--reuse-prefix"),
        truncate_log: false,
        ..wine::Config::fresh(root, "run", "run")
    };
    println!(
        "wine: driver lines below are from {} (prefix {})",
        rel(root, &config.log),
        rel(root, &config.prefix)
    );
    let transcript = scenario::full(&paths, &config);
    let checks = scenario::checks(&transcript, scenario::workspace_version(root).as_deref());
    println!("checks:");
    let (passed, failed) = scenario::print_checks(&checks);
    println!(
        "run took {} ({passed} checks passed, {failed} failed)",
        secs(t0.elapsed())
    );
    match checks.iter().find(|c| !c.ok) {
        None => {
            println!("kcallbacks run: SUCCESS");
            Ok(ExitCode::SUCCESS)
        }
        Some(c) => {
            scenario::dump_log_tail(root, &config.log, transcript.log(), 80);
            let cause = scenario::stub_called(transcript.log())
                .map(|f| format!(" (the driver called {f}, which Wine 8.0 only has as an aborting stub)"))
                .unwrap_or_default();
            println!(
                "kcallbacks run: FAILURE: {}: {}{cause}",
                c.name,
                one_line(&c.detail)
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

fn wine_e2e_task(root: &Path, options: &[&str]) -> Result<ExitCode> {
    only_flags(options, &["--no-build"])?;
    if !options.contains(&"--no-build") {
        build(root)?;
    }
    let (_, failed) = wine_e2e(root)?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The Wine end-to-end test on built artifacts (fresh prefix
/// `target/wine/test-prefix`, log `target/wine/test.log`). Prints every check
/// and `wine-e2e: N passed, M failed`; returns (passed, failed).
///
/// # Errors
/// Missing artifacts (the checks themselves are counted, not errors).
pub fn wine_e2e(root: &Path) -> Result<(usize, usize)> {
    let paths = Paths::new(root);
    artifacts::require(&paths, Parts::ALL)?;
    let config = wine::Config::fresh(root, "test", "wine-e2e");
    let t0 = Instant::now();
    let transcript = scenario::full(&paths, &config);
    let checks = scenario::checks(&transcript, scenario::workspace_version(root).as_deref());
    println!("wine e2e checks:");
    let (passed, failed) = scenario::print_checks(&checks);
    if failed > 0 {
        scenario::dump_log_tail(root, &config.log, transcript.log(), 80);
    }
    println!("wine e2e took {}", secs(t0.elapsed()));
    println!("wine-e2e: {passed} passed, {failed} failed");
    Ok((passed, failed))
}

fn wine_smoke(root: &Path) -> Result<ExitCode> {
    setup::setup()?;
    let paths = Paths::new(root);
    artifacts::build(&paths, Parts::TRIGGER_ONLY)?;
    let config = wine::Config::fresh(root, "smoke", "wine-smoke");
    let t0 = Instant::now();
    let (checks, log) = scenario::smoke(&paths, &config);
    let (passed, failed) = scenario::print_checks(&checks);
    if failed > 0 {
        scenario::dump_log_tail(root, &config.log, &log, 80);
    }
    println!("wine smoke took {}", secs(t0.elapsed()));
    println!("wine-smoke: {passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
