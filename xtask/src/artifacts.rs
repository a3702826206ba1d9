//! `cargo xtask build`: cross-builds the drivers and the client, builds the
//! `ProcessPrng` shim, test-signs the `.sys` files, stamps the INF.
//!
//! Everything lands in `target/kcb/`:
//!
//! | file | from |
//! |---|---|
//! | `kcallbacks.sys` | `target/x86_64-pc-windows-msvc/release/kcallbacks.dll`, signed |
//! | `kcbtrig.sys` | `target/x86_64-pc-windows-msvc/release/kcb_trigger.dll`, signed |
//! | `kcbctl.exe` | `target/x86_64-pc-windows-gnu/release/kcbctl.exe` |
//! | `bcryptprimitives.dll` | `tools/bcryptprimitives/` (Wine 8.0 only) |
//! | `kcallbacks.inf` | `inf/kcallbacks.inx` with `$ARCH$` = `amd64` |
//! | `cert/` | the throw-away test-signing certificate and key (made once) |

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::runcmd::run_checked;
use crate::util::{Context, Result, bail, cargo_main, copy_file, rel, run_captured};

/// Target triple of the kernel-mode images.
pub const DRIVER_TARGET: &str = "x86_64-pc-windows-msvc";
/// Target triple of the user-mode client.
pub const CLIENT_TARGET: &str = "x86_64-pc-windows-gnu";
/// Subject of the test-signing certificate.
pub const CERT_SUBJECT: &str = "/CN=kcallbacks test signing (throw-away)";

const CARGO_LIMIT: Duration = Duration::from_secs(40 * 60);
const TOOL_LIMIT: Duration = Duration::from_secs(120);

/// Where the build puts things.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The repository root.
    pub root: PathBuf,
    /// `target/kcb`.
    pub out_dir: PathBuf,
    /// `target/kcb/kcallbacks.sys`.
    pub driver: PathBuf,
    /// `target/kcb/kcbtrig.sys`.
    pub trigger: PathBuf,
    /// `target/kcb/kcbctl.exe`.
    pub kcbctl: PathBuf,
    /// `target/kcb/bcryptprimitives.dll`.
    pub shim: PathBuf,
    /// `target/kcb/kcallbacks.inf`.
    pub inf: PathBuf,
    /// `target/kcb/cert`.
    pub cert_dir: PathBuf,
}

impl Paths {
    /// The paths for the repository at `root`.
    pub fn new(root: &Path) -> Self {
        let out_dir = root.join("target").join("kcb");
        Self {
            root: root.to_path_buf(),
            driver: out_dir.join("kcallbacks.sys"),
            trigger: out_dir.join("kcbtrig.sys"),
            kcbctl: out_dir.join("kcbctl.exe"),
            shim: out_dir.join("bcryptprimitives.dll"),
            inf: out_dir.join("kcallbacks.inf"),
            cert_dir: out_dir.join("cert"),
            out_dir,
        }
    }

    fn cert(&self) -> PathBuf {
        self.cert_dir.join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.cert_dir.join("key.pem")
    }

    fn release(&self, target: &str, file: &str) -> PathBuf {
        self.root.join("target").join(target).join("release").join(file)
    }
}

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    /// The main driver `kcallbacks.sys`.
    pub driver: bool,
    /// The client `kcbctl.exe` (and the shim DLL it needs under Wine).
    pub client: bool,
    /// The INF (from `inf/kcallbacks.inx`).
    pub inf: bool,
}

impl Parts {
    /// Everything.
    pub const ALL: Self = Self {
        driver: true,
        client: true,
        inf: true,
    };
    /// Only the trigger driver (the Wine smoke test).
    pub const TRIGGER_ONLY: Self = Self {
        driver: false,
        client: false,
        inf: false,
    };
}

/// Builds `parts` (the trigger driver always), signs the drivers and prints
/// every artifact with its size.
pub fn build(paths: &Paths, parts: Parts) -> Result<()> {
    let mut packages = vec![];
    if parts.driver {
        packages.extend(["-p", "kcallbacks"]);
    }
    packages.extend(["-p", "kcb-trigger"]);
    println!("build: drivers ({DRIVER_TARGET}, release)");
    let mut args = vec!["build", "--target", DRIVER_TARGET, "--release"];
    args.extend(&packages);
    run_checked(&mut cargo_main(&paths.root, &args), CARGO_LIMIT).ctx("building the drivers")?;

    let mut produced = vec![];
    if parts.driver {
        copy_file(&paths.release(DRIVER_TARGET, "kcallbacks.dll"), &paths.driver)?;
        produced.push(paths.driver.clone());
    }
    copy_file(&paths.release(DRIVER_TARGET, "kcb_trigger.dll"), &paths.trigger)?;
    produced.push(paths.trigger.clone());

    ensure_certificate(paths)?;
    for sys in &produced {
        sign(paths, sys)?;
    }

    if parts.client {
        println!("build: kcbctl ({CLIENT_TARGET}, release)");
        run_checked(
            &mut cargo_main(
                &paths.root,
                &["build", "-p", "kcbctl", "--target", CLIENT_TARGET, "--release"],
            ),
            CARGO_LIMIT,
        )
        .ctx("building kcbctl")?;
        let exe = paths.release(CLIENT_TARGET, "kcbctl.exe");
        if !exe.is_file() {
            bail!(
                "cargo did not produce {} (does crates/kcbctl have a `kcbctl` binary?)",
                rel(&paths.root, &exe)
            );
        }
        copy_file(&exe, &paths.kcbctl)?;
        produced.push(paths.kcbctl.clone());
        build_shim(paths)?;
        produced.push(paths.shim.clone());
    }

    if parts.inf {
        stamp_inf(paths)?;
        produced.push(paths.inf.clone());
    }

    for file in &produced {
        let size = fs::metadata(file).map_or(0, |m| m.len());
        println!("build: {:<32} {size:>8} bytes", rel(&paths.root, file));
    }
    Ok(())
}

/// Makes the throw-away self-signed code-signing certificate, unless it exists.
fn ensure_certificate(paths: &Paths) -> Result<()> {
    if paths.cert().is_file() && paths.key().is_file() {
        return Ok(());
    }
    fs::create_dir_all(&paths.cert_dir).ctx(format!("creating {}", paths.cert_dir.display()))?;
    println!(
        "build: new test-signing certificate in {}",
        rel(&paths.root, &paths.cert_dir)
    );
    let mut openssl = Command::new("openssl");
    openssl
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
        ])
        .arg("-keyout")
        .arg(paths.key())
        .arg("-out")
        .arg(paths.cert())
        .args(["-subj", CERT_SUBJECT])
        .args(["-addext", "extendedKeyUsage=codeSigning"])
        .args(["-addext", "keyUsage=critical,digitalSignature"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"]);
    let out = run_captured(&mut openssl, &paths.out_dir, TOOL_LIMIT)?;
    if !out.ended.success() {
        let _ = fs::remove_file(paths.key());
        let _ = fs::remove_file(paths.cert());
        bail!("openssl req failed ({}): {}", out.ended, out.stderr.trim());
    }
    Ok(())
}

/// Embeds an Authenticode (SHA-256) signature into `sys` and verifies it
/// against the test certificate.
fn sign(paths: &Paths, sys: &Path) -> Result<()> {
    let signed = sys.with_extension("sys.signed");
    let _ = fs::remove_file(&signed);
    let mut osslsigncode = Command::new("osslsigncode");
    osslsigncode
        .arg("sign")
        .arg("-certs")
        .arg(paths.cert())
        .arg("-key")
        .arg(paths.key())
        .args(["-h", "sha256", "-n", "kcallbacks (test-signed)"])
        .arg("-in")
        .arg(sys)
        .arg("-out")
        .arg(&signed);
    let out = run_captured(&mut osslsigncode, &paths.out_dir, TOOL_LIMIT)?;
    if !out.ended.success() {
        bail!(
            "osslsigncode sign {} failed ({}): {}{}",
            sys.display(),
            out.ended,
            out.stdout.trim(),
            out.stderr.trim()
        );
    }
    fs::rename(&signed, sys).ctx(format!("renaming {} to {}", signed.display(), sys.display()))?;

    let mut verify = Command::new("osslsigncode");
    verify
        .arg("verify")
        .arg("-CAfile")
        .arg(paths.cert())
        .arg("-in")
        .arg(sys);
    let out = run_captured(&mut verify, &paths.out_dir, TOOL_LIMIT)?;
    if !out.ended.success() {
        bail!(
            "osslsigncode verify {} failed ({}): {}{}",
            sys.display(),
            out.ended,
            out.stdout.trim(),
            out.stderr.trim()
        );
    }
    println!(
        "build: signed {} (sha256, verified against the test certificate)",
        rel(&paths.root, sys)
    );
    Ok(())
}

/// Builds `bcryptprimitives.dll` (exports `ProcessPrng`) for Wine 8.0.
fn build_shim(paths: &Paths) -> Result<()> {
    let dir = paths.root.join("tools").join("bcryptprimitives");
    let mut gcc = Command::new("x86_64-w64-mingw32-gcc");
    gcc.args(["-shared", "-O2", "-s", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&paths.shim)
        .arg(dir.join("bcryptprimitives.c"))
        .arg(dir.join("bcryptprimitives.def"))
        .arg("-ladvapi32");
    let out = run_captured(&mut gcc, &paths.out_dir, TOOL_LIMIT)?;
    if !out.ended.success() {
        bail!(
            "building the ProcessPrng shim failed ({}): {}",
            out.ended,
            out.stderr.trim()
        );
    }
    Ok(())
}

/// Writes `target/kcb/kcallbacks.inf`: the INX with the architecture filled
/// in, as `stampinf -a amd64` would (no catalog: `inf2cat` is Windows-only).
fn stamp_inf(paths: &Paths) -> Result<()> {
    let inx = paths.root.join("inf").join("kcallbacks.inx");
    let text = fs::read_to_string(&inx).ctx(format!("reading {}", inx.display()))?;
    fs::write(&paths.inf, text.replace("$ARCH$", "amd64")).ctx(format!("writing {}", paths.inf.display()))
}

/// Fails unless every artifact of `parts` exists (for tasks that do not build).
pub fn require(paths: &Paths, parts: Parts) -> Result<()> {
    let mut needed = vec![&paths.trigger];
    if parts.driver {
        needed.push(&paths.driver);
    }
    if parts.client {
        needed.extend([&paths.kcbctl, &paths.shim]);
    }
    for file in needed {
        if !file.is_file() {
            bail!(
                "{} is missing: run `cargo xtask build` first",
                rel(&paths.root, file)
            );
        }
    }
    Ok(())
}
