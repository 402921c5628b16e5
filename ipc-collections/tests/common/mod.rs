//! Helpers shared by the cross-process tests of this crate.

/// This process's role, if it is a spawned child (ends the harness's "test NAME ... " line
/// first, so that report lines stand on their own).
pub fn role() -> Option<String> {
    let r = ipc_testutil::role();
    if r.is_some() {
        println!();
    }
    r
}
