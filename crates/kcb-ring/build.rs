//! Declares the `loom` cfg so `cfg(loom)` is not an unexpected cfg.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(loom)");
}
