//! Whether a segment's creator still runs: `/proc/PID/stat` gives the state and the start
//! time (field 22), which tells the creator from a later process that reuses its pid
//! (`FORMAT.md`, init protocol).

/// What became of a segment's creator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// A running process with the recorded pid and start time.
    Alive,
    /// No such process, or a zombie.
    Dead,
    /// A process with the pid runs, but it started at another time: the creator died and its
    /// pid was reused.
    PidReused,
}

impl Liveness {
    /// A word for tables: `alive`, `dead`, `dead (pid reused)`.
    pub fn word(self) -> &'static str {
        match self {
            Liveness::Alive => "alive",
            Liveness::Dead => "dead",
            Liveness::PidReused => "dead (pid reused)",
        }
    }
}

/// The state letter and start time of process `pid`, if it exists.
fn stat(pid: i32) -> Option<(String, u64)> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 2 (comm) is in parentheses and may contain spaces or ')'; the fields after it
    // start after the last ')'. Field 3 (state) comes first, field 22 is the 20th after it.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.to_owned();
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

/// Whether the process `pid` that started at `start_time` (clock ticks since boot; 0 means
/// unknown and matches any start time) still runs.
pub fn liveness(pid: i32, start_time: u64) -> Liveness {
    match stat(pid) {
        None => Liveness::Dead,
        Some((state, _)) if matches!(state.as_str(), "Z" | "X" | "x") => Liveness::Dead,
        Some((_, start)) if start_time != 0 && start != start_time => Liveness::PidReused,
        Some(_) => Liveness::Alive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_other_start_times_are_not() {
        let pid = std::process::id() as i32;
        let (_, start) = stat(pid).unwrap();
        assert_eq!(liveness(pid, start), Liveness::Alive);
        assert_eq!(liveness(pid, 0), Liveness::Alive);
        assert_eq!(liveness(pid, start + 1), Liveness::PidReused);
        assert_eq!(liveness(i32::MAX, 0), Liveness::Dead);
        assert_eq!(liveness(0, 0), Liveness::Dead);
        assert_eq!(liveness(-1, 0), Liveness::Dead);
    }
}
