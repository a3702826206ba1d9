//! Build script of the driver: the WDK's driver configuration (cfg and link
//! arguments), from the real wdk-build on Windows or the stand-in on Linux.
//!
//! Also: the `tracelogging` crate (src/etw) declares `#[link(name =
//! "rpcrt4")]` on `Guid::new` (user-mode `UuidCreate`) for every Windows
//! target, so rustc asks the linker for `rpcrt4.lib`, a user-mode library
//! that a kernel driver's library path does not have. The driver never calls
//! `Guid::new`; an empty archive of that name satisfies the link and
//! imports nothing (`tests/image_checks.rs` checks the import table: only
//! `ntoskrnl.exe` and `HAL.dll`).

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), wdk_build::ConfigError> {
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows") {
        let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
        let dir = out.join("empty-user-mode-libs");
        fs::create_dir_all(&dir).expect("create the empty-library directory");
        fs::write(dir.join("rpcrt4.lib"), b"!<arch>\n").expect("write the empty rpcrt4.lib");
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    wdk_build::configure_wdk_binary_build()
}
