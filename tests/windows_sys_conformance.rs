//! A second, Microsoft-derived oracle for the bindings: the stand-in
//! `wdk-sys` (mingw-w64's headers plus `kcb_supplement.h`) against
//! `windows-sys`'s `Wdk::*` / `Win32::*` modules, which are generated from
//! Microsoft's WDK metadata (itself generated from the WDK headers).
//!
//! Compared, for what the driver (and the kernel model, where it shares
//! kernel structures) uses:
//! * structures: size, alignment, and the offsets of the fields the code
//!   reads or writes;
//! * kernel routines the driver imports, declares itself (raw-dylib) or
//!   resolves at run time (`MmGetSystemRoutineAddress`, the prototypes in
//!   `src/*.rs`): the size of each parameter and of the result. The
//!   parameter count is part of the fn-pointer type both sides are cast to,
//!   so a different count does not compile (rustc then prints both
//!   signatures);
//! * constants: their values.
//!
//! Prints `conformance: N of M items match`, then the exceptions (names the
//! metadata lacks, with the reason); fails on any mismatch, with both values.
//!
//! The comparisons are in `tests/windows_sys_conformance/`: `structures.rs`,
//! `routines.rs`, `constants.rs`, `exceptions.rs`; this file holds the
//! comparison machinery and the tests.

#![allow(non_snake_case, reason = "kernel names")]

use std::mem::{align_of, offset_of, size_of};

use kcallbacks as _;
use ntsim as _;
use windows_sys::Wdk::Foundation as wf;
use windows_sys::Wdk::Storage::FileSystem as wfs;
use windows_sys::Wdk::System::SystemServices as wss;
use windows_sys::Win32::Foundation as w32;

/// Sizes of a routine's parameters and result (0 for no result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sig {
    count: usize,
    params: [usize; 12],
    ret: usize,
}

impl std::fmt::Display for Sig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({:?}) -> {}", &self.params[..self.count], self.ret)
    }
}

/// The [`Sig`] of a fn-pointer type.
trait FnSig {
    const SIG: Sig;
}

const fn sig_from(sizes: &[usize], ret: usize) -> Sig {
    let mut params = [0; 12];
    let mut i = 0;
    while i < sizes.len() {
        params[i] = sizes[i];
        i += 1;
    }
    Sig {
        count: sizes.len(),
        params,
        ret,
    }
}

macro_rules! impl_fn_sig {
    ($($p:ident),*) => {
        impl<R, $($p),*> FnSig for unsafe extern "C" fn($($p),*) -> R {
            const SIG: Sig = sig_from(&[$(size_of::<$p>()),*], size_of::<R>());
        }
        impl<R, $($p),*> FnSig for unsafe extern "system" fn($($p),*) -> R {
            const SIG: Sig = sig_from(&[$(size_of::<$p>()),*], size_of::<R>());
        }
        impl<R, $($p),*> FnSig for Option<unsafe extern "C" fn($($p),*) -> R> {
            const SIG: Sig = sig_from(&[$(size_of::<$p>()),*], size_of::<R>());
        }
        impl<R, $($p),*> FnSig for Option<unsafe extern "system" fn($($p),*) -> R> {
            const SIG: Sig = sig_from(&[$(size_of::<$p>()),*], size_of::<R>());
        }
    };
}
impl_fn_sig!();
// DbgPrintEx(ComponentId, Level, Format, ...): the fixed parameters.
impl<R, A, B, C> FnSig for unsafe extern "C" fn(A, B, C, ...) -> R {
    const SIG: Sig = sig_from(&[size_of::<A>(), size_of::<B>(), size_of::<C>()], size_of::<R>());
}
impl_fn_sig!(A);
impl_fn_sig!(A, B);
impl_fn_sig!(A, B, C);
impl_fn_sig!(A, B, C, D);
impl_fn_sig!(A, B, C, D, E);
impl_fn_sig!(A, B, C, D, E, F);
impl_fn_sig!(A, B, C, D, E, F, G);
impl_fn_sig!(A, B, C, D, E, F, G, H);
impl_fn_sig!(A, B, C, D, E, F, G, H, I);
impl_fn_sig!(A, B, C, D, E, F, G, H, I, J);
impl_fn_sig!(A, B, C, D, E, F, G, H, I, J, K);

/// The [`Sig`] of a fn pointer. Used in `const` items only: the pointer is
/// never kept, so no symbol is referenced at link time.
const fn sig_of<T: FnSig>(f: T) -> Sig {
    std::mem::forget(f);
    T::SIG
}

/// The comparison results.
#[derive(Default)]
struct Report {
    matched: Vec<String>,
    mismatched: Vec<String>,
    exceptions: Vec<(String, &'static str)>,
}

impl Report {
    #[allow(
        clippy::needless_pass_by_value,
        reason = "sizes, offsets, values and Sigs: all Copy"
    )]
    fn cmp<T: PartialEq + std::fmt::Display>(&mut self, item: impl Into<String>, ours: T, theirs: T) {
        let item = item.into();
        if ours == theirs {
            self.matched.push(item);
        } else {
            self.mismatched
                .push(format!("{item}: stand-in {ours}, windows-sys {theirs}"));
        }
    }

    fn except(&mut self, item: &str, reason: &'static str) {
        self.exceptions.push((item.to_owned(), reason));
    }
}

/// Size, alignment and field offsets of a structure. Fields are listed by
/// the same name on both sides, or `ours => theirs` where bindgen and the
/// metadata name an anonymous member differently.
macro_rules! layout {
    ($r:ident, $ours:ty, $theirs:ty { $($f:ident),* $(,)? } $(; $($of:ident $(. $ofn:ident)* => $tf:ident $(. $tfn:ident)*),* $(,)?)?) => {{
        let name = stringify!($ours);
        $r.cmp(format!("{name} size"), size_of::<$ours>(), size_of::<$theirs>());
        $r.cmp(format!("{name} align"), align_of::<$ours>(), align_of::<$theirs>());
        $( $r.cmp(format!("{name}.{}", stringify!($f)), offset_of!($ours, $f), offset_of!($theirs, $f)); )*
        $($(
            $r.cmp(
                format!("{name}.{}", stringify!($tf $(. $tfn)*)),
                offset_of!($ours, $of $(. $ofn)*),
                offset_of!($theirs, $tf $(. $tfn)*),
            );
        )*)?
    }};
}

/// A routine of the stand-in's `ntddk` against windows-sys. `_` per parameter.
macro_rules! routine {
    ($r:ident, $name:ident ( $($p:tt),* ) in $module:ident) => {{
        const OURS: Sig = sig_of(wdk_sys::ntddk::$name as unsafe extern "C" fn($($p),*) -> _);
        const THEIRS: Sig = sig_of($module::$name as unsafe extern "system" fn($($p),*) -> _);
        $r.cmp(format!("{}()", stringify!($name)), OURS, THEIRS);
    }};
}

/// A prototype the driver declares itself (a raw-dylib declaration or a
/// fn-pointer type for a routine resolved at run time) against windows-sys.
macro_rules! declared {
    ($r:ident, $label:expr, $ours:expr, $name:ident ( $($p:tt),* ) in $module:ident) => {{
        const OURS: Sig = $ours;
        const THEIRS: Sig = sig_of($module::$name as unsafe extern "system" fn($($p),*) -> _);
        $r.cmp(format!("{}() [{}]", stringify!($name), $label), OURS, THEIRS);
    }};
}

/// A constant's value on both sides.
macro_rules! constant {
    ($r:ident, $ours:expr, $theirs:expr) => {{
        #[allow(
            clippy::cast_lossless,
            clippy::unnecessary_cast,
            reason = "values of different integer types"
        )]
        let (ours, theirs) = ($ours as i128, $theirs as i128);
        $r.cmp(
            stringify!($ours)
                .rsplit("::")
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            ours,
            theirs,
        );
    }};
}

/// A callback prototype the driver implements against the metadata's.
macro_rules! callback {
    ($r:ident, $label:expr, $ours:ty, $theirs:ty) => {{
        $r.cmp(
            format!("{} (callback)", $label),
            <$ours as FnSig>::SIG,
            <$theirs as FnSig>::SIG,
        );
    }};
}

#[path = "windows_sys_conformance/constants.rs"]
mod constants;
#[path = "windows_sys_conformance/exceptions.rs"]
mod exceptions;
#[path = "windows_sys_conformance/routines.rs"]
mod routines;
#[path = "windows_sys_conformance/structures.rs"]
mod structures;

/// Every comparison and every exception.
fn full_report() -> Report {
    let mut r = Report::default();
    structures::structures(&mut r);
    routines::routines(&mut r);
    constants::constants(&mut r);
    exceptions::pointer_alignment(&mut r);
    exceptions::exceptions(&mut r);
    r
}

#[test]
fn stand_in_bindings_conform_to_the_windows_sys_metadata() {
    let r = full_report();

    let total = r.matched.len() + r.mismatched.len();
    println!("conformance: {} of {total} items match", r.matched.len());
    println!("exceptions ({}):", r.exceptions.len());
    for (item, reason) in &r.exceptions {
        println!("  {item}: {reason}");
    }
    for m in &r.mismatched {
        println!("MISMATCH {m}");
    }
    assert!(
        r.mismatched.is_empty(),
        "{} mismatches:\n{}",
        r.mismatched.len(),
        r.mismatched.join("\n")
    );
    assert!(total > 200, "only {total} items compared");
}

#[test]
fn a_mismatch_is_reported_with_both_values() {
    const A: Sig = sig_from(&[8, 1], 4);
    const B: Sig = sig_from(&[8, 8], 4);
    let mut r = Report::default();
    r.cmp("X size", 8usize, 16usize);
    assert_eq!(r.mismatched, ["X size: stand-in 8, windows-sys 16"]);
    r.cmp("f()", A, B);
    assert_eq!(
        r.mismatched[1],
        "f(): stand-in ([8, 1]) -> 4, windows-sys ([8, 8]) -> 4"
    );
}

/// Environment variable `cargo xtask test` sets after the cross build: the
/// built driver (as for `tests/image_checks.rs`).
const SYS_PATH_ENV: &str = "KCB_SYS_PATH";

#[test]
fn every_import_of_the_built_driver_is_compared_or_excepted() {
    use object::Object;

    let Some(path) = std::env::var_os(SYS_PATH_ENV) else {
        println!("{SYS_PATH_ENV} is not set: this check runs in `cargo xtask test` after the cross build");
        return;
    };
    let bytes = std::fs::read(&path).expect("the built driver");
    let file = object::read::pe::PeFile64::parse(&*bytes).expect("a PE32+ image");
    let imports: Vec<String> = Object::imports(&file)
        .expect("import table")
        .map(|i| match i.expect("import entry").name() {
            object::NameOrOrdinal::Name(name) => String::from_utf8_lossy(name).into_owned(),
            object::NameOrOrdinal::Ordinal(n) => format!("#{n}"),
        })
        .collect();
    let r = full_report();
    let compared: std::collections::BTreeSet<&str> = r
        .matched
        .iter()
        .filter_map(|m| m.split_once("()").map(|(name, _)| name))
        .collect();
    let excepted: std::collections::BTreeSet<&str> = r
        .exceptions
        .iter()
        .flat_map(|(names, _)| names.split(", "))
        .collect();
    let missing: Vec<&String> = imports
        .iter()
        .filter(|n| !compared.contains(n.as_str()) && !excepted.contains(n.as_str()))
        .collect();
    println!(
        "imports: {} of the driver's {} imports compared, {} listed as exceptions",
        imports.iter().filter(|n| compared.contains(n.as_str())).count(),
        imports.len(),
        imports.iter().filter(|n| excepted.contains(n.as_str())).count()
    );
    assert!(
        missing.is_empty(),
        "imports neither compared nor listed as exceptions: {missing:?}"
    );
}
