//! Compiles `csrc/shims.c`: the variadic `DbgPrint`/`DbgPrintEx` (formatted
//! with `vsnprintf`) and the pool wrappers that pass their caller's return
//! address to the Rust side.
fn main() {
    println!("cargo:rerun-if-changed=csrc/shims.c");
    cc::Build::new()
        .file("csrc/shims.c")
        .warnings(true)
        .compile("ntsim_shims");
}
