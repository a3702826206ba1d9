//! `cargo xtask test`: the whole test sequence (what `.ci/run` runs).
//!
//! Steps run in order and the sequence stops at the first failure. The last
//! line is always `xtask: <N> passed, <M> failed` (steps), and the exit
//! code is non-zero when a step failed. To add a step, push another
//! [`Step`] in [`steps`].

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::artifacts::{self, Parts, Paths};
use crate::runcmd::run_checked;
use crate::util::{Result, bail, cargo, cargo_main, secs};

/// Environment variable read by `tests/image_checks.rs`: the image to check.
pub const SYS_PATH_ENV: &str = "KCB_SYS_PATH";
/// Environment variable read by `tests/image_checks.rs`: skip (the host-test
/// step runs before the build; the image checks get their own step).
pub const SKIP_IMAGE_CHECKS_ENV: &str = "KCB_SKIP_IMAGE_CHECKS";

/// Environment variable read by `tests/windows_makefile.rs`: the real
/// `wdk-build` crate's folder (else it looks in the cargo registry).
pub const WDK_BUILD_DIR_ENV: &str = "KCB_WDK_BUILD_DIR";

/// Source trees that must stay free of import circles: every crate's `src/`
/// and the kernel-model harness (issue 13).
const CIRCLE_FREE: [&str; 10] = [
    "src",
    "crates/ntsim/src",
    "crates/kcb-ring/src",
    "crates/kcb-proto/src",
    "crates/kcbctl/src",
    "crates/kcb-trigger/src",
    "wdk-linux/wdk-build/src",
    "wdk-linux/wdk-sys/src",
    "xtask/src",
    "tests/kernel_model",
];

const TEST_LIMIT: Duration = Duration::from_secs(45 * 60);

/// One step of the sequence.
pub struct Step {
    /// Shown in the summary.
    pub name: &'static str,
    /// Runs it.
    pub run: Box<dyn FnOnce() -> Result<()>>,
}

fn step(name: &'static str, run: impl FnOnce() -> Result<()> + 'static) -> Step {
    Step {
        name,
        run: Box::new(run),
    }
}

/// The steps, in order.
pub fn steps(root: &Path) -> Vec<Step> {
    let r = root.to_path_buf();
    let (r1, r2, r3, r4, r5) = (r.clone(), r.clone(), r.clone(), r.clone(), r.clone());
    let (r6, r7, r8, r9) = (r.clone(), r.clone(), r.clone(), r.clone());
    let (r10, r11, r12, r13) = (r.clone(), r.clone(), r.clone(), r.clone());
    let (r14, r15, r16) = (r.clone(), r.clone(), r);
    vec![
        step("setup", crate::setup::setup),
        step("xtask self-tests", move || {
            run_checked(
                Command::new(cargo()).current_dir(&r1).args([
                    "test",
                    "--quiet",
                    "--manifest-path",
                    "xtask/Cargo.toml",
                ]),
                TEST_LIMIT,
            )
        }),
        step(
            "Cargo.lock resolves wdk-build/wdk-sys from crates.io",
            move || crate::lockfile::check(&r10),
        ),
        step(
            "stand-in wdk-build refuses what the real 0.6.0 refuses",
            move || {
                run_checked(
                    Command::new(cargo())
                        .current_dir(&r11)
                        .args(["test", "--manifest-path", "wdk-linux/wdk-build/Cargo.toml"])
                        .env("CARGO_TARGET_DIR", r11.join("target/wdk-linux-build")),
                    TEST_LIMIT,
                )
            },
        ),
        step(
            "Windows flow: real rust-driver-makefile.toml rules, windows-sys conformance",
            move || {
                let wdk_build = crate::lockfile::real_package_dir(&r12, "wdk-build")?;
                println!("real wdk-build: {}", wdk_build.display());
                run_checked(
                    cargo_main(
                        &r12,
                        &[
                            "test",
                            "--test",
                            "windows_makefile",
                            "--test",
                            "windows_sys_conformance",
                            "--",
                            "--nocapture",
                        ],
                    )
                    .env(WDK_BUILD_DIR_ENV, &wdk_build),
                    TEST_LIMIT,
                )
            },
        ),
        step(
            "lints: rustfmt --check, clippy (deny-level lints of the workspace table)",
            move || {
                run_checked(
                    Command::new(cargo())
                        .current_dir(&r14)
                        .args(["fmt", "--all", "--check"]),
                    TEST_LIMIT,
                )?;
                // `--config` after the subcommand: clippy ignores a `--config` placed before it.
                run_checked(
                    Command::new(cargo()).current_dir(&r14).args([
                        "clippy",
                        "--config",
                        crate::util::PATCH_CONFIG,
                        "--workspace",
                        "--all-targets",
                    ]),
                    TEST_LIMIT,
                )
            },
        ),
        step("no import circle (tools/import_graph.py --check)", move || {
            run_checked(
                Command::new("python3")
                    .current_dir(&r15)
                    .args(["tools/import_graph.py", "--check"])
                    .args(CIRCLE_FREE),
                TEST_LIMIT,
            )
        }),
        step("file sizes (src/ <= 400 lines, others <= 1000)", move || {
            crate::filesizes::check(&r16)
        }),
        step("host tests (cargo test --workspace)", move || {
            // The image checks need the cross-built .sys; they run in their own step below.
            run_checked(
                cargo_main(&r2, &["test", "--workspace"]).env(SKIP_IMAGE_CHECKS_ENV, "1"),
                TEST_LIMIT,
            )
        }),
        step("loom model of the ring", move || crate::quality::loom(&r6)),
        step("Miri: ring and wire format", move || crate::quality::miri(&r7)),
        step("fuzz smoke (each target 10 s)", move || {
            crate::quality::FUZZ_TARGETS
                .iter()
                .try_for_each(|target| crate::quality::fuzz(&r8, target, 10))
        }),
        step("bench smoke (criterion quick + callgrind)", move || {
            crate::quality::bench(&r9, true)
        }),
        step("cross build + sign", move || {
            artifacts::build(&Paths::new(&r3), Parts::ALL)
        }),
        step("image and INF checks", move || {
            let paths = Paths::new(&r4);
            run_checked(
                cargo_main(&r4, &["test", "--test", "image_checks", "--test", "inf_check"])
                    .env(SYS_PATH_ENV, &paths.driver)
                    .env_remove(SKIP_IMAGE_CHECKS_ENV),
                TEST_LIMIT,
            )
        }),
        step(
            "windows-sys conformance covers every import of the built driver",
            move || {
                let paths = Paths::new(&r13);
                run_checked(
                    cargo_main(
                        &r13,
                        &["test", "--test", "windows_sys_conformance", "--", "--nocapture"],
                    )
                    .env(SYS_PATH_ENV, &paths.driver),
                    TEST_LIMIT,
                )
            },
        ),
        step("wine end-to-end", move || {
            let (passed, failed) = crate::wine_e2e(&r5)?;
            if failed > 0 {
                bail!("{failed} of {} checks failed", passed + failed);
            }
            Ok(())
        }),
    ]
}

/// How long a step took and how it ended.
type Finished = (Duration, Result<()>);

/// Runs the sequence; prints a summary line per step and the final count.
pub fn test(root: &Path) -> ExitCode {
    let t0 = Instant::now();
    let mut results: Vec<(&'static str, Option<Finished>)> = vec![];
    let mut failed_already = false;
    for s in steps(root) {
        if failed_already {
            results.push((s.name, None));
            continue;
        }
        println!("\n==> xtask test: {}", s.name);
        let started = Instant::now();
        let outcome = (s.run)();
        if let Err(e) = &outcome {
            println!("xtask test: step `{}` failed: {e}", s.name);
            failed_already = true;
        }
        results.push((s.name, Some((started.elapsed(), outcome))));
    }

    println!("\nxtask test summary ({}):", secs(t0.elapsed()));
    let (mut passed, mut failed) = (0, 0);
    for (name, result) in &results {
        match result {
            Some((d, Ok(()))) => {
                passed += 1;
                println!("  ok       {name} ({})", secs(*d));
            }
            Some((d, Err(e))) => {
                failed += 1;
                println!("  FAILED   {name} ({}): {e}", secs(*d));
            }
            None => println!("  skipped  {name} (an earlier step failed)"),
        }
    }
    println!("xtask: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
