//! What `/proc` tells about who maps an object.

use std::os::unix::fs::MetadataExt;

/// The processes that map a file, as far as `/proc/*/maps` could be read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Mappers {
    /// The pids whose `maps` list the file (same inode, same path).
    pub pids: Vec<i32>,
    /// How many processes' `maps` could not be read (another user's, without privilege):
    /// any of them might map the file too.
    pub unreadable: usize,
}

impl Mappers {
    /// Whether it is certain that no process maps the file.
    pub fn certainly_none(&self) -> bool {
        self.pids.is_empty() && self.unreadable == 0
    }
}

/// Scans `/proc/*/maps` for mappings of the file at `path` (e.g. `/dev/shm/NAME`), matched
/// by inode and path (an unlinked file shows as `PATH (deleted)`, which is not this name's
/// object any more). `None` if `path` cannot be `stat`ed.
pub fn mappers(path: &str) -> Option<Mappers> {
    let ino = std::fs::metadata(path).ok()?.ino();
    let mut found = Mappers::default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        found.unreadable = 1;
        return Some(found);
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let maps = match std::fs::read_to_string(format!("/proc/{pid}/maps")) {
            Ok(m) => m,
            // The process ended meanwhile: it maps nothing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(_) => {
                found.unreadable += 1;
                continue;
            }
        };
        if maps.lines().any(|l| maps_line_is(l, ino, path)) {
            found.pids.push(pid);
        }
    }
    found.pids.sort_unstable();
    Some(found)
}

/// Whether a line of `/proc/PID/maps` (`start-end perms offset dev inode path`) maps the
/// file with inode `ino` at `path`.
fn maps_line_is(line: &str, ino: u64, path: &str) -> bool {
    let mut rest = line;
    let mut fields = [""; 5];
    for f in &mut fields {
        rest = rest.trim_start();
        let end = rest.find(' ').unwrap_or(rest.len());
        *f = &rest[..end];
        rest = &rest[end..];
    }
    fields[4].parse::<u64>() == Ok(ino) && rest.trim_start() == path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_match_inode_and_exact_path() {
        let l = "7f00-7f01 rw-s 00000000 00:1a 4242                       /dev/shm/a b";
        assert!(maps_line_is(l, 4242, "/dev/shm/a b"));
        assert!(!maps_line_is(l, 4243, "/dev/shm/a b"));
        assert!(!maps_line_is(l, 4242, "/dev/shm/a"));
        let deleted = "7f00-7f01 rw-s 00000000 00:1a 4242 /dev/shm/x (deleted)";
        assert!(!maps_line_is(deleted, 4242, "/dev/shm/x"));
        assert!(!maps_line_is("", 0, ""));
    }
}
