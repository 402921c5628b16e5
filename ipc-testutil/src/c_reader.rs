//! The C reader of `readers/c/read_segment.c` (FORMAT.md's reader written from the document
//! alone), compiled once per test binary, for the tests that hold the library, the `ipc`
//! tool and the reader to the same verdicts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The reader's source in the workspace.
pub const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../readers/c/read_segment.c");

/// Compiles the reader into `dir` as `read_segment` (with `-Wall -Wextra -pedantic`, which
/// must give no warning) and returns its path; `None`, with a note on stderr, if there is
/// no C compiler (`$CC`, default `cc`), or a failure where `IPC_REQUIRE_READERS=1` (see
/// [`missing_reader`](crate::missing_reader)). A compiler that fails or warns fails the test.
pub fn build(dir: &Path) -> Option<PathBuf> {
    let out = dir.join("read_segment");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let res = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-pedantic", "-O2", "-o"])
        .arg(&out)
        .arg(SOURCE)
        .stdin(Stdio::null())
        .output();
    match res {
        Err(e) => {
            crate::missing_reader("a C compiler", &format!("{cc}: {e}"));
            None
        }
        Ok(o) => {
            let warnings = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "{cc} failed:\n{warnings}");
            assert!(warnings.trim().is_empty(), "{cc} warned:\n{warnings}");
            Some(out)
        }
    }
}
