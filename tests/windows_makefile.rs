//! The Windows build path (`cargo make`) checked against the rules of the
//! REAL `rust-driver-makefile.toml` shipped inside `wdk-build` (read from the
//! cargo registry, not a copy), as cargo-make would apply them to this
//! workspace:
//!
//! * `Makefile.toml` extends the file `load_rust_driver_makefile()` links into
//!   `target/`, under the name the real `cargo_make.rs` uses;
//! * which workspace members the flow visits (cargo-make runs a flow in every
//!   member unless `[config] default_to_workspace = false`), which of them
//!   `package-driver-flow` packages (a `metadata.wdk` section and a cdylib
//!   target, as `package_driver_flow_condition_script` decides), and that the
//!   `.inx` of each packaged one is where `copy-inx-to-output` (the real task
//!   or this project's override) reads it;
//! * the members that must not be built against the real WDK (host-only
//!   crates, and drivers without an INF) are not visited.
//!
//! The real crate is found through `$KCB_WDK_BUILD_DIR` (set by `cargo xtask
//! test` from `cargo metadata` without the stand-in patch), else in
//! `$CARGO_HOME/registry/src/*/wdk-build-<version>` for the version
//! `Cargo.toml` requires.

use std::fs;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// Members the Windows flow must not visit: the kernel model and the
/// user-mode client, which are host-only and must never be built against the
/// real WDK crates, and the driver's WDK-free libraries, which the driver's
/// own build compiles as its dependencies.
const NOT_VISITED: &[(&str, &str)] = &[
    (
        "ntsim",
        "host-only: the NT kernel model for host tests, defines ntoskrnl symbols itself",
    ),
    ("kcbctl", "host-only: the user-mode client"),
    ("kcb-ring", "a WDK-free library, built as the driver's dependency"),
    (
        "kcb-proto",
        "a WDK-free library, built as the driver's dependency",
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn parse(path: &Path) -> Table {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn get<'a>(table: &'a Table, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = table.get(*first)?;
    for key in rest {
        value = value.as_table()?.get(*key)?;
    }
    Some(value)
}

fn get_str<'a>(table: &'a Table, path: &[&str]) -> Option<&'a str> {
    get(table, path).and_then(Value::as_str)
}

/// The `wdk-build` version requirement of the driver's build script.
fn wdk_build_requirement() -> String {
    let manifest = parse(&root().join("Cargo.toml"));
    get_str(&manifest, &["build-dependencies", "wdk-build"])
        .expect("[build-dependencies] wdk-build")
        .to_owned()
}

/// The real `wdk-build` crate folder.
fn real_wdk_build_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KCB_WDK_BUILD_DIR") {
        return PathBuf::from(dir);
    }
    let requirement = wdk_build_requirement();
    // A 0.x caret requirement: same 0.minor, highest patch.
    let parts: Vec<u64> = requirement
        .split('.')
        .map(|p| p.parse().expect("numeric version"))
        .collect();
    let cargo_home = std::env::var_os("CARGO_HOME").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo"),
        PathBuf::from,
    );
    let mut best: Option<(u64, PathBuf)> = None;
    for index in fs::read_dir(cargo_home.join("registry/src"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for entry in fs::read_dir(index.path()).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(version) = name.strip_prefix("wdk-build-") else {
                continue;
            };
            let v: Vec<u64> = version.split('.').filter_map(|p| p.parse().ok()).collect();
            if v.len() == 3
                && v[0] == parts[0]
                && v[1] == parts[1]
                && v[2] >= parts[2]
                && best.as_ref().is_none_or(|(p, _)| v[2] > *p)
            {
                best = Some((v[2], entry.path()));
            }
        }
    }
    best.map_or_else(
        || {
            panic!(
                "the real wdk-build {requirement} is not in the cargo registry: run `cargo fetch` (without \
                 --config wdk-linux/config.toml), or `cargo xtask test`, which fetches it"
            )
        },
        |(_, p)| p,
    )
}

/// One workspace member as the flow sees it.
struct Member {
    dir: String,
    name: String,
    has_wdk_metadata: bool,
    cdylib: bool,
}

fn members(manifest: &Table) -> Vec<Member> {
    let list = get(manifest, &["workspace", "members"])
        .and_then(Value::as_array)
        .expect("[workspace] members");
    list.iter()
        .map(|m| {
            let dir = m.as_str().expect("member path").to_owned();
            let own = parse(&root().join(&dir).join("Cargo.toml"));
            let name = get_str(&own, &["package", "name"])
                .expect("package name")
                .to_owned();
            let has_wdk_metadata = get(&own, &["package", "metadata", "wdk"]).is_some();
            let cdylib = get(&own, &["lib", "crate-type"])
                .and_then(Value::as_array)
                .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("cdylib")));
            Member {
                dir,
                name,
                has_wdk_metadata,
                cdylib,
            }
        })
        .collect()
}

/// Every way the project breaks the real makefile's rules (empty: none).
#[allow(clippy::too_many_lines, reason = "one block per rule of the real makefile")]
fn violations(real_dir: &Path, ours: &Table, manifest: &Table) -> Vec<String> {
    let mut found = vec![];
    let real = parse(&real_dir.join("rust-driver-makefile.toml"));
    let cargo_make_rs =
        fs::read_to_string(real_dir.join("src/cargo_make.rs")).expect("real src/cargo_make.rs");

    // The makefile extended is the one load_rust_driver_makefile() links.
    let linked_name = "rust-driver-makefile.toml";
    if !cargo_make_rs.contains(&format!("RUST_DRIVER_MAKEFILE_NAME: &str = \"{linked_name}\"")) {
        found.push(format!(
            "the real cargo_make.rs no longer names the makefile {linked_name}"
        ));
    }
    if get_str(ours, &["extend"]) != Some(&format!("target/{linked_name}")) {
        found.push(format!("Makefile.toml must extend target/{linked_name}"));
    }
    let load_script = get_str(ours, &["config", "load_script"]).unwrap_or_default();
    if !load_script.contains("wdk_build::cargo_make::load_rust_driver_makefile()") {
        found.push("Makefile.toml's load_script must call load_rust_driver_makefile()".into());
    }
    let requirement = wdk_build_requirement();
    if !load_script.contains(&format!("wdk-build = \"{requirement}\"")) {
        found.push(format!(
            "Makefile.toml's load_script must use wdk-build {requirement}, as Cargo.toml"
        ));
    }

    // The flow that `cargo make` runs: the default task.
    if get_str(&real, &["tasks", "default", "alias"]) != Some("package-driver-flow") {
        found.push("the real default task is no longer package-driver-flow".into());
    }
    let condition = get_str(&real, &["tasks", "package-driver-flow", "condition_script"]).unwrap_or_default();
    if !condition.contains("package_driver_flow_condition_script") {
        found.push(
            "the real package-driver-flow no longer decides with package_driver_flow_condition_script".into(),
        );
    }
    // What that condition packages: metadata.wdk and a cdylib target.
    if !(cargo_make_rs.contains("metadata[\"wdk\"].is_null()")
        && cargo_make_rs.contains("TargetKind::CDyLib"))
    {
        found.push(
            "the real package_driver_flow_condition_script changed its rule (metadata.wdk + cdylib)".into(),
        );
    }

    // Which members the flow visits.
    let all = members(manifest);
    let per_member = get(ours, &["config", "default_to_workspace"])
        .and_then(Value::as_bool)
        .unwrap_or(true)
        && get(&real, &["config", "default_to_workspace"])
            .and_then(Value::as_bool)
            .unwrap_or(true);
    let visited: Vec<&Member> = all.iter().filter(|m| per_member || m.dir == ".").collect();
    if !per_member {
        let default_members = get(manifest, &["workspace", "default-members"]).and_then(Value::as_array);
        if default_members.map(|d| d.iter().filter_map(Value::as_str).collect::<Vec<_>>()) != Some(vec!["."])
        {
            found
                .push("the flow runs `cargo build` at the root: default-members must be [\".\"] only".into());
        }
    }

    // Where copy-inx-to-output reads the .inx.
    let real_task = get_str(&real, &["tasks", "copy-inx-to-output", "script"]).unwrap_or_default();
    if !(real_task.contains("cargo_make_working_directory,")
        && real_task.contains("format!(\"{}.inx\", wdk_build::cargo_make::get_current_package_name())"))
    {
        found.push("the real copy-inx-to-output no longer reads <working dir>/<package>.inx".into());
    }
    let stampinf = get(&real, &["tasks", "stampinf", "args"]).and_then(Value::as_array);
    let stamped = "${WDK_BUILD_OUTPUT_DIRECTORY}/${CARGO_MAKE_CRATE_FS_NAME}.inf";
    if !stampinf.is_some_and(|a| a.iter().any(|v| v.as_str() == Some(stamped))) {
        found.push(format!("the real stampinf no longer reads {stamped}"));
    }
    let override_script = get_str(ours, &["tasks", "copy-inx-to-output", "script"]);
    if let Some(script) = override_script
        && !(script.contains("get_wdk_build_output_directory()")
            && script.contains("format!(\"{package}.inf\")"))
    {
        found.push(
            "the copy-inx-to-output override must write <output>/<package>.inf, where stampinf reads".into(),
        );
    }
    for m in &visited {
        let packaged = m.has_wdk_metadata && m.cdylib;
        if let Some((_, why)) = NOT_VISITED.iter().find(|(n, _)| *n == m.name) {
            found.push(format!(
                "{} ({why}) is visited by the flow, which runs its own build (against the real WDK crates) and packaging there",
                m.name
            ));
        }
        if !packaged {
            continue;
        }
        let inx = match override_script {
            Some(script) if script.contains(".join(\"inf\")") => {
                root().join("inf").join(format!("{}.inx", m.name))
            }
            Some(_) => {
                found.push("the copy-inx-to-output override reads an unknown location".into());
                continue;
            }
            None => root().join(&m.dir).join(format!("{}.inx", m.name)),
        };
        if !inx.is_file() {
            found.push(format!(
                "{} is packaged but copy-inx-to-output reads {}, which does not exist",
                m.name,
                inx.display()
            ));
        }
    }
    found
}

#[test]
fn the_windows_flow_follows_the_real_rust_driver_makefile() {
    let real_dir = real_wdk_build_dir();
    println!(
        "real makefile: {}",
        real_dir.join("rust-driver-makefile.toml").display()
    );
    let ours = parse(&root().join("Makefile.toml"));
    let manifest = parse(&root().join("Cargo.toml"));
    let found = violations(&real_dir, &ours, &manifest);
    assert!(
        found.is_empty(),
        "the Windows flow breaks the real makefile's rules:\n  {}",
        found.join("\n  ")
    );

    // The driver is packaged, from inf/.
    let driver = members(&manifest)
        .into_iter()
        .find(|m| m.dir == ".")
        .expect("root package");
    assert!(
        driver.has_wdk_metadata && driver.cdylib,
        "the root package is the packaged driver"
    );
    assert!(root().join("inf/kcallbacks.inx").is_file());
}

/// `document` without the key `key` of its table `[section]`.
fn without(document: &Table, section: &str, key: &str) -> Table {
    let mut edited = document.clone();
    edited
        .get_mut(section)
        .and_then(Value::as_table_mut)
        .unwrap_or_else(|| panic!("no [{section}]"))
        .remove(key);
    edited
}

#[test]
fn the_rules_catch_what_the_issue_found() {
    let real_dir = real_wdk_build_dir();
    let manifest = parse(&root().join("Cargo.toml"));
    let ours = parse(&root().join("Makefile.toml"));

    // Without the override: the real task reads ./kcallbacks.inx.
    let no_override = without(&ours, "tasks", "copy-inx-to-output");
    let found = violations(&real_dir, &no_override, &manifest);
    assert!(
        found.iter().any(|f| f.starts_with("kcallbacks is packaged but")),
        "{found:?}"
    );

    // Flow in every member: the host-only crates are built, kcb-trigger has no INF.
    let every_member = without(&ours, "config", "default_to_workspace");
    let found = violations(&real_dir, &every_member, &manifest);
    assert!(found.iter().any(|f| f.starts_with("ntsim (")), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("kcbctl (")), "{found:?}");
    assert!(
        found.iter().any(|f| f.starts_with("kcb-trigger is packaged but")),
        "{found:?}"
    );
}

#[test]
fn the_windows_workflow_and_the_readme_give_the_same_steps() {
    let workflow = fs::read_to_string(root().join(".github/workflows/windows.yml")).expect("windows.yml");
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    for step in [
        "cargo install --locked cargo-make --no-default-features --features tls-native",
        "cargo make",
        "cargo clippy --locked -p kcallbacks --lib",
    ] {
        assert!(workflow.contains(step), "windows.yml lacks `{step}`");
        assert!(readme.contains(step), "README.md lacks `{step}`");
    }
    // InfVerif on the INF the flow produces for the driver package.
    assert!(workflow.contains("kcallbacks_package/kcallbacks.inf") && workflow.contains("infverif"));
    assert!(
        readme.contains("cannot run on\nthis project's Linux machines")
            || readme.contains("cannot run on this project's Linux machines")
    );
}
