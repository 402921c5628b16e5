//! Running as another user, for permission tests.

/// Whether the tests run as root (which bypasses permission bits).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// In a spawned child: drops to `nobody` (uid and gid 65534) when the suite runs as root and
/// returns whether it did; otherwise leaves the user as it is and returns false.
pub fn drop_privileges() -> bool {
    if !is_root() {
        return false;
    }
    // SAFETY: setgid/setuid take plain ids; this is a single-purpose child process, and the
    // results are checked.
    unsafe {
        assert_eq!(libc::setgid(65534), 0, "setgid(nobody)");
        assert_eq!(libc::setuid(65534), 0, "setuid(nobody)");
    }
    true
}
