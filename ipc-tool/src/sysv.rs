//! System V IPC objects: listed from `/proc/sysvipc/{shm,sem,msg}` (what `ipcs` reads) and
//! removed with `IPC_RMID`. They have keys and ids instead of names; the tool names them
//! `shmid:ID`, `semid:ID` and `msqid:ID`.

use ipc_core::{Errno, Error, ErrorKind};

/// The three System V kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysvKind {
    /// Shared memory segments (`shmget`).
    Shm,
    /// Semaphore sets (`semget`).
    Sem,
    /// Message queues (`msgget`).
    Msg,
}

impl SysvKind {
    /// Every kind, in listing order.
    pub const ALL: [SysvKind; 3] = [SysvKind::Shm, SysvKind::Sem, SysvKind::Msg];

    /// The kind's word in `ls` (`sysv-shm`, `sysv-sem`, `sysv-msg`).
    pub fn word(self) -> &'static str {
        match self {
            SysvKind::Shm => "sysv-shm",
            SysvKind::Sem => "sysv-sem",
            SysvKind::Msg => "sysv-msg",
        }
    }

    /// The prefix of the tool's names for this kind (`shmid`, `semid`, `msqid`).
    pub fn id_word(self) -> &'static str {
        match self {
            SysvKind::Shm => "shmid",
            SysvKind::Sem => "semid",
            SysvKind::Msg => "msqid",
        }
    }

    fn proc_file(self) -> &'static str {
        match self {
            SysvKind::Shm => "/proc/sysvipc/shm",
            SysvKind::Sem => "/proc/sysvipc/sem",
            SysvKind::Msg => "/proc/sysvipc/msg",
        }
    }
}

/// One row of `/proc/sysvipc/*`, by column name.
#[derive(Debug, Clone)]
pub struct SysvObject {
    /// Which kind.
    pub kind: SysvKind,
    /// `(column, value)` pairs as the kernel names them (`key`, `shmid`, `perms`, ...).
    pub fields: Vec<(String, String)>,
}

impl SysvObject {
    /// The value of column `col`, as a number.
    pub fn num(&self, col: &str) -> Option<i64> {
        self.fields
            .iter()
            .find(|(c, _)| c == col)
            .and_then(|(_, v)| v.parse().ok())
    }

    /// The object's id.
    pub fn id(&self) -> Option<i32> {
        self.num(self.kind.id_word())
            .and_then(|v| i32::try_from(v).ok())
    }

    /// The permission bits (`perms`, printed in octal by the kernel).
    pub fn mode(&self) -> u32 {
        self.fields
            .iter()
            .find(|(c, _)| c == "perms")
            .and_then(|(_, v)| u32::from_str_radix(v, 8).ok())
            .unwrap_or(0)
            & 0o777
    }
}

/// Parses the text of a `/proc/sysvipc/*` file: a header line of column names, then one
/// line per object.
pub fn parse(kind: SysvKind, text: &str) -> Vec<SysvObject> {
    let mut lines = text.lines();
    let Some(head) = lines.next() else {
        return Vec::new();
    };
    let cols: Vec<&str> = head.split_whitespace().collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| SysvObject {
            kind,
            fields: cols
                .iter()
                .zip(l.split_whitespace())
                .map(|(c, v)| ((*c).to_owned(), v.to_owned()))
                .collect(),
        })
        .collect()
}

/// Every object of `kind` on the machine; `Err` with a reason if the list cannot be read.
pub fn list(kind: SysvKind) -> Result<Vec<SysvObject>, String> {
    std::fs::read_to_string(kind.proc_file())
        .map(|t| parse(kind, &t))
        .map_err(|e| format!("{}: {e}", kind.proc_file()))
}

/// Parses a tool name `shmid:ID`, `semid:ID` or `msqid:ID`.
pub fn parse_name(name: &str) -> Option<(SysvKind, i32)> {
    let (word, id) = name.split_once(':')?;
    let kind = SysvKind::ALL.into_iter().find(|k| k.id_word() == word)?;
    Some((kind, id.parse().ok().filter(|&i: &i32| i >= 0)?))
}

/// `IPC_RMID`: removes the System V object `id` of `kind`.
///
/// # References
/// [shmctl(2)](https://man7.org/linux/man-pages/man2/shmctl.2.html),
/// [semctl(2)](https://man7.org/linux/man-pages/man2/semctl.2.html),
/// [msgctl(2)](https://man7.org/linux/man-pages/man2/msgctl.2.html)
pub fn remove(kind: SysvKind, id: i32) -> Result<(), Error> {
    let name = format!("{}:{id}", kind.id_word());
    let (op, r) = match kind {
        SysvKind::Shm => return ipc_core::shm::sysv::remove(id).map_err(|e| e.with_name(name)),
        // SAFETY: semctl with IPC_RMID reads no fourth argument; `id` is a plain integer
        // (a wrong one is an error return, not undefined behaviour).
        SysvKind::Sem => ("semctl(IPC_RMID)", unsafe {
            libc::semctl(id, 0, libc::IPC_RMID)
        }),
        // SAFETY: msgctl with IPC_RMID ignores its buffer argument, so null is allowed.
        SysvKind::Msg => ("msgctl(IPC_RMID)", unsafe {
            libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut())
        }),
    };
    if r == -1 {
        let e = match Errno::last() {
            Errno::EINVAL | Errno::EIDRM => Error::new(op, ErrorKind::NotFound),
            e => Error::os(op, e),
        };
        return Err(e.with_name(name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_sysvipc_by_column_name() {
        let t = "       key      shmid perms                  size  cpid  lpid nattch   uid\n\
                 \x20        0         32  1600                  4096   100   100      1  1000\n";
        let v = parse(SysvKind::Shm, t);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].id(), Some(32));
        assert_eq!(v[0].mode(), 0o600);
        assert_eq!(v[0].num("nattch"), Some(1));
        assert!(parse(SysvKind::Sem, "").is_empty());
    }

    #[test]
    fn names_are_kind_and_id() {
        assert_eq!(parse_name("shmid:7"), Some((SysvKind::Shm, 7)));
        assert_eq!(parse_name("msqid:0"), Some((SysvKind::Msg, 0)));
        assert_eq!(parse_name("semid:-1"), None);
        assert_eq!(parse_name("/x"), None);
        assert_eq!(parse_name("foo:1"), None);
    }
}
