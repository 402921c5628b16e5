//! The derive's generated paths resolve whichever crate the user depends on, as a user
//! writes it: only the facade (`typed-ipc`, used as `ipc`), only `typed-ipc-collections`,
//! only `typed-ipc-core` (+ `typed-ipc-derive`), or the facade under another name. Each case is a small crate built and run by cargo in a scratch directory,
//! outside this workspace, so it sees exactly the dependencies it declares.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (this crate is `<root>/ipc-derive`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A target directory for the scratch crates, beside this build's (so repeated runs reuse
/// the compiled dependencies), but not the same one (no lock shared with the outer cargo).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/resolve-xxxx
    let target = exe
        .ancestors()
        .nth(3)
        .expect("test binary in target/<profile>/deps");
    target.join("layout-resolve")
}

const PROBE_SCHEMA: &str = "Probe(8/4){a:u32(4/4)@0,b:[u16(2/2);2]@4}";

/// Writes the crate `name` with `deps` and `main`, builds and runs it, and returns what it
/// printed.
fn build_and_run(name: &str, deps: &str, main: &str) -> String {
    let dir = std::env::temp_dir().join(format!("ipc-resolve-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let root = root();
    let deps = deps.replace("{root}", root.to_str().expect("UTF-8 path"));
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[dependencies]\n{deps}\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), main).unwrap();
    // The workspace's lock file, so the scratch crate uses the same (cached) versions.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["run", "--quiet", "--offline", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("CARGO_PKG_NAME")
        .env_remove("CARGO_CRATE_NAME")
        .output()
        .expect("run cargo");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{name} failed to build or run:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn derive_resolves_through_the_facade_collections_core_and_a_renamed_facade() {
    let cases = [
        (
            "resolve-facade",
            r#"typed-ipc = { path = "{root}" }"#,
            r#"
use ipc::SharedLayout;
#[derive(SharedLayout)]
#[repr(C)]
struct Probe { a: u32, b: [u16; 2] }
fn main() { print!("{}", Probe::LAYOUT.schema()); }
"#,
        ),
        (
            "resolve-collections",
            r#"typed-ipc-collections = { path = "{root}/ipc-collections" }"#,
            r#"
use ipc_collections::SharedLayout;
#[derive(SharedLayout)]
#[repr(C)]
struct Probe { a: u32, b: [u16; 2] }
fn main() { print!("{}", Probe::LAYOUT.schema()); }
"#,
        ),
        (
            "resolve-core",
            r#"typed-ipc-core = { path = "{root}/ipc-core" }
typed-ipc-derive = { path = "{root}/ipc-derive" }"#,
            r#"
use ipc_core::SharedLayout;
#[derive(ipc_derive::SharedLayout)]
#[repr(C)]
struct Probe { a: u32, b: [u16; 2] }
fn main() { print!("{}", Probe::LAYOUT.schema()); }
"#,
        ),
        (
            "resolve-renamed",
            r#"shmem = { package = "typed-ipc", path = "{root}" }"#,
            r#"
#[derive(shmem::SharedLayout)]
#[repr(C)]
struct Probe { a: u32, b: [u16; 2] }
fn main() { print!("{}", <Probe as shmem::SharedLayout>::LAYOUT.schema()); }
"#,
        ),
    ];
    for (name, deps, main) in cases {
        assert_eq!(build_and_run(name, deps, main), PROBE_SCHEMA, "{name}");
    }
}
