//! Generates the stand-in `wdk-sys` bindings from mingw-w64's DDK headers.
//!
//! * Types and constants go to `$OUT_DIR/types.rs` (crate root), functions to
//!   `$OUT_DIR/functions.rs` (`wdk_sys::ntddk`), as in the real crate.
//! * clang parses for `x86_64-pc-windows-msvc` whatever the cargo target is,
//!   and C types map to [`crate::ctypes`] (LLP64), so layouts are Windows x64
//!   layouts in host builds too.
//! * For a Windows target, import libraries `ntoskrnl.lib` and `hal.lib` are
//!   generated with `llvm-dlltool` from the bound function names (mingw-w64's
//!   own `libntoskrnl.a` lacks newer exports); a host build links nothing, so
//!   the kernel model's definitions resolve the same symbols.

use std::{
    collections::BTreeSet,
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use bindgen::callbacks::{IntKind, ParseCallbacks};

/// Routines that x64 Windows exports from `HAL.dll` rather than `ntoskrnl.exe`.
const HAL_EXPORTS: &[&str] = &[
    "KeStallExecutionProcessor",
    "KeQueryPerformanceCounter",
    "HalGetBusData",
    "HalGetBusDataByOffset",
    "HalSetBusData",
    "HalSetBusDataByOffset",
    "HalTranslateBusAddress",
    "HalGetInterruptVector",
    "HalAssignSlotResources",
    "HalAllocateCrashDumpRegisters",
    "HalMakeBeep",
    "HalReturnToFirmware",
    "HalAcquireDisplayOwnership",
    "HalDisplayString",
    "HalQuerySystemInformation",
];

/// Data exports of `ntoskrnl.exe` that drivers import (declared in drivers'
/// own raw-dylib blocks; listed so the import library carries them too).
const NTOSKRNL_DATA: &[&str] = &[
    "PsProcessType",
    "PsThreadType",
    "ExDesktopObjectType",
    "IoDeviceObjectType",
    "IoFileObjectType",
    "HalDispatchTable",
    "HalPrivateDispatchTable",
    "SeExports",
    "KeNumberProcessors",
    "InitSafeBootMode",
];

/// C runtime routines `ntoskrnl.exe` exports that compiled Rust code calls
/// (the compiler emits calls to them; kernel images have no CRT).
const NTOSKRNL_CRT: &[&str] = &[
    "memcpy", "memmove", "memset", "memcmp", "strlen", "wcslen", "__chkstk",
    "__C_specific_handler",
];

/// Inline functions that the kernel provides as inline code or macros on x64;
/// the crate defines them itself (`src/inline_fns.rs`).
const INLINE_ONLY: &[&str] = &[
    "KeGetCurrentIrql",
    "KfRaiseIrql",
    "KeLowerIrql",
    "KfLowerIrql",
    "KeRaiseIrqlToDpcLevel",
    "KeRaiseIrqlToSynchLevel",
    "KeQueryInterruptTime",
    "KeQuerySystemTime",
    "KeQueryTickCount",
    "KeGetCurrentThread",
    "PsGetCurrentThread",
];

#[derive(Debug)]
struct Callbacks;

impl ParseCallbacks for Callbacks {
    fn int_macro(&self, name: &str, _value: i64) -> Option<IntKind> {
        // The WDK types these as POOL_FLAGS (ULONG64); wdk-alloc passes them
        // straight to ExAllocatePool2.
        name.starts_with("POOL_FLAG_").then_some(IntKind::U64)
    }
}

fn mingw_include() -> PathBuf {
    env::var_os("WDK_LINUX_MINGW_INCLUDE")
        .map_or_else(|| PathBuf::from("/usr/share/mingw-w64/include"), PathBuf::from)
}

fn clang_resource_include() -> Option<PathBuf> {
    let out = Command::new("clang").arg("-print-resource-dir").output().ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    Some(Path::new(dir.trim()).join("include"))
}

fn builder(manifest_dir: &Path) -> bindgen::Builder {
    let mingw = mingw_include();
    assert!(
        mingw.join("ddk/ntifs.h").exists(),
        "mingw-w64 DDK headers not found at {} (Debian: apt-get install mingw-w64-x86-64-dev)",
        mingw.display()
    );
    let mut args = vec![
        "--target=x86_64-pc-windows-msvc".to_owned(),
        "-fms-compatibility".to_owned(),
        "-fms-extensions".to_owned(),
        // mingw's _mingw.h defines __attribute__ away unless clang claims GNU.
        "-fgnuc-version=4.2.1".to_owned(),
        "-fno-builtin".to_owned(),
        "-D_AMD64_".to_owned(),
        "-D_WIN64".to_owned(),
        "-D_KERNEL_MODE".to_owned(),
        "-DNTDDI_VERSION=0x0A000000".to_owned(),
        "-D_WIN32_WINNT=0x0A00".to_owned(),
        format!("-I{}", manifest_dir.join("include").display()),
        format!("-I{}", mingw.join("ddk").display()),
        format!("-I{}", mingw.display()),
    ];
    if let Some(resource) = clang_resource_include() {
        args.push(format!("-isystem{}", resource.display()));
    }
    bindgen::Builder::default()
        .header(manifest_dir.join("include/wrapper.h").display().to_string())
        .clang_args(args)
        .use_core()
        .ctypes_prefix("crate::ctypes")
        .derive_default(true)
        .generate_cstr(true)
        .detect_include_paths(false)
        .default_enum_style(bindgen::EnumVariation::ModuleConsts)
        .must_use_type("NTSTATUS")
        .blocklist_item("__tile1024i.*")
        .blocklist_item("_?tile1024i.*")
        .opaque_type("_KGDTENTRY64")
        .opaque_type("_KIDTENTRY64")
        .parse_callbacks(Box::new(Callbacks))
        .formatter(bindgen::Formatter::None)
}

/// `ntstatus.h` spells its codes `((NTSTATUS)0xC0000022L)`, a cast bindgen's
/// macro evaluator skips; the real crate has them as `NTSTATUS` constants.
fn ntstatus_constants(types_rs: &str) -> String {
    let header = mingw_include().join("ntstatus.h");
    let text = fs::read_to_string(&header).expect("read ntstatus.h");
    let mut seen = BTreeSet::new();
    let mut out = String::from("\n// NTSTATUS codes from ntstatus.h (see build.rs).\n");
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some("#define"), Some(name), Some(value)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let Some(hex) = value.strip_prefix("((NTSTATUS)0x").map(|v| v.trim_end_matches(")").trim_end_matches('L'))
        else {
            continue;
        };
        let Ok(code) = u32::from_str_radix(hex, 16) else { continue };
        if types_rs.contains(&format!("pub const {name}:")) || !seen.insert(name.to_owned()) {
            continue;
        }
        out.push_str(&format!("pub const {name}: NTSTATUS = 0x{code:08X}_u32 as NTSTATUS;\n"));
    }
    out
}

fn bound_function_names(functions_rs: &str) -> BTreeSet<String> {
    functions_rs
        .split("pub fn ")
        .skip(1)
        .filter_map(|rest| rest.split(['(', '<']).next())
        .map(|name| name.trim().to_owned())
        .collect()
}

fn write_def(path: &Path, library: &str, names: &[String], data: &[&str]) {
    let mut text = format!("LIBRARY {library}\nEXPORTS\n");
    for name in names {
        text.push_str(name);
        text.push('\n');
    }
    for name in data {
        text.push_str(name);
        text.push_str(" DATA\n");
    }
    fs::write(path, text).expect("write .def");
}

fn dlltool(def: &Path, lib: &Path) {
    let tool = env::var("WDK_LINUX_DLLTOOL").unwrap_or_else(|_| "llvm-dlltool".to_owned());
    let status = Command::new(&tool)
        .args(["-m", "i386:x86-64", "-d"])
        .arg(def)
        .arg("-l")
        .arg(lib)
        .status()
        .unwrap_or_else(|e| panic!("running {tool} (Debian: apt-get install llvm): {e}"));
    assert!(status.success(), "{tool} failed for {}", def.display());
}

fn main() -> Result<(), wdk_build::ConfigError> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    println!("cargo::rerun-if-changed=include");
    println!("cargo::rerun-if-env-changed=WDK_LINUX_MINGW_INCLUDE");

    wdk_build::configure_wdk_library_build_and_then(|config| {
        let types = builder(&manifest_dir)
            .ignore_functions()
            .generate()
            .expect("bindgen: types and constants");
        let mut types_rs = types.to_string();
        types_rs += &ntstatus_constants(&types_rs);
        fs::write(out_dir.join("types.rs"), types_rs).expect("write types.rs");

        let functions = builder(&manifest_dir)
            .with_codegen_config(bindgen::CodegenConfig::FUNCTIONS)
            .allowlist_recursively(false)
            .blocklist_function(INLINE_ONLY.join("|"))
            .generate()
            .expect("bindgen: functions");
        let functions_rs = functions.to_string();
        fs::write(out_dir.join("functions.rs"), &functions_rs).expect("write functions.rs");

        if config.target_is_windows {
            let mut names = bound_function_names(&functions_rs);
            names.extend(NTOSKRNL_CRT.iter().map(|n| (*n).to_owned()));
            let (hal, ntoskrnl): (Vec<String>, Vec<String>) =
                names.into_iter().partition(|n| HAL_EXPORTS.contains(&n.as_str()));
            let nt_def = out_dir.join("ntoskrnl.def");
            let hal_def = out_dir.join("hal.def");
            write_def(&nt_def, "ntoskrnl.exe", &ntoskrnl, NTOSKRNL_DATA);
            write_def(&hal_def, "HAL.dll", &hal, &[]);
            dlltool(&nt_def, &out_dir.join("ntoskrnl.lib"));
            dlltool(&hal_def, &out_dir.join("hal.lib"));
            println!("cargo::rustc-link-search=native={}", out_dir.display());
            println!("cargo::rustc-link-lib=dylib=ntoskrnl");
            println!("cargo::rustc-link-lib=dylib=hal");
        }
        Ok::<(), wdk_build::ConfigError>(())
    })
}
