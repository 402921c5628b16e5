//! Every IPC object on the machine: `ls`, `rm` and `gc`.
//!
//! POSIX objects are found where Linux keeps them: shared memory objects (and this
//! project's segments) as files in `/dev/shm`, named semaphores as `/dev/shm/sem.NAME`
//! (glibc), message queues in the mqueue file system at `/dev/mqueue`. System V objects
//! come from `/proc/sysvipc` (see [`crate::sysv`]).

use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use clap::ValueEnum;
use ipc_collections::creator::{self, Liveness};
use ipc_core::mq::{Access, MessageQueue};
use ipc_core::sem::NamedSemaphore;
use serde_json::{json, Map, Value};

use crate::out::{emit, emit_json, err, esc, table, JSON_VERSION};
use crate::snapshot::{self, Verdict};
use crate::sysv::{self, SysvKind};
use crate::{procfs, ring, segment, Failure};

/// Where the mqueue file system is expected.
const MQUEUE_DIR: &str = "/dev/mqueue";

/// The kinds of POSIX object a name can refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PosixKind {
    /// A shared memory object (`shm_open`), including this project's segments.
    Shm,
    /// A named semaphore (`sem_open`).
    Sem,
    /// A message queue (`mq_open`).
    Mq,
}

impl PosixKind {
    fn word(self) -> &'static str {
        match self {
            PosixKind::Shm => "shm",
            PosixKind::Sem => "sem",
            PosixKind::Mq => "mq",
        }
    }

    /// Where the object `name` (`/x`) lives in the file system.
    fn path(self, name: &str) -> String {
        match self {
            PosixKind::Shm => format!("/dev/shm{name}"),
            PosixKind::Sem => format!("/dev/shm/sem.{}", &name[1..]),
            PosixKind::Mq => format!("{MQUEUE_DIR}{name}"),
        }
    }
}

/// One object of `ls`.
struct Row {
    kind: &'static str,
    name: String,
    meta: Option<std::fs::Metadata>,
    size: Option<u64>,
    detail: String,
    fields: Map<String, Value>,
}

/// User names by uid, from `/etc/passwd`.
fn user_names() -> HashMap<u32, String> {
    let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

/// Whether the mqueue file system is mounted at `/dev/mqueue` (`/proc/self/mounts`).
pub fn mqueue_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mounts").is_ok_and(|t| {
        t.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&MQUEUE_DIR) && f.get(2) == Some(&"mqueue")
        })
    })
}

/// The regular files of a directory as `(file name, metadata)`, sorted; names that are
/// not UTF-8 are shown with replacement characters (and cannot be opened by that name).
fn files(dir: &str) -> std::io::Result<Vec<(String, std::fs::Metadata)>> {
    let mut v: Vec<(String, std::fs::Metadata)> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let t = meta.file_type();
            // Segments and semaphores are regular files; anything else planted there (a
            // FIFO, a socket, a directory) is not an IPC object.
            (t.is_file() && !t.is_fifo()).then(|| (e.file_name().to_string_lossy().into(), meta))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

fn shm_rows(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    let entries = match files("/dev/shm") {
        Ok(v) => v,
        Err(e) => {
            notes.push(format!("/dev/shm cannot be read: {e}"));
            return;
        }
    };
    for (file, meta) in entries {
        if let Some(sem) = file.strip_prefix("sem.") {
            let name = format!("/{sem}");
            let (detail, value) = match NamedSemaphore::open(&name) {
                Ok(s) => {
                    let v = s.value();
                    (format!("value {v}"), Some(v))
                }
                Err(e) => (format!("value unknown: {}", e.kind()), None),
            };
            let mut fields = Map::new();
            fields.insert("value".into(), value.into());
            rows.push(Row {
                kind: "sem",
                name,
                size: None,
                meta: Some(meta),
                detail,
                fields,
            });
            continue;
        }
        let name = format!("/{file}");
        let size = Some(meta.len());
        let opened = snapshot::open_read_only(&name).and_then(|(f, size)| {
            Ok(if snapshot::has_magic(&f, &name)? {
                let snap = snapshot::take(&f, &name, size)?;
                // A ring's control block that cannot be read (truncated meanwhile) leaves
                // the ring columns unknown; the header columns still show.
                let ring = ring::status_of(&f, &snap).ok().flatten();
                Some((snap, ring))
            } else {
                None
            })
        });
        let (kind, detail, fields) = match opened {
            Ok(Some((snap, ring))) => {
                let (d, f) = segment::ls_fields(&snap, ring.as_ref());
                ("segment", d, f)
            }
            Ok(None) => ("shm", String::new(), Map::new()),
            Err(e) => (
                "shm",
                format!("unreadable: {}", e.kind()),
                Map::from_iter([("problem".to_owned(), e.kind().to_string().into())]),
            ),
        };
        rows.push(Row {
            kind,
            name,
            size,
            meta: Some(meta),
            detail,
            fields,
        });
    }
}

fn mq_rows(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    if !mqueue_mounted() {
        notes.push(format!(
            "the mqueue file system is not mounted at {MQUEUE_DIR}: POSIX message queues \
             cannot be listed (mount -t mqueue none {MQUEUE_DIR})"
        ));
        return;
    }
    let entries = match files(MQUEUE_DIR) {
        Ok(v) => v,
        Err(e) => {
            notes.push(format!("{MQUEUE_DIR} cannot be read: {e}"));
            return;
        }
    };
    for (file, meta) in entries {
        let name = format!("/{file}");
        let mut fields = Map::new();
        let detail = match MessageQueue::options()
            .access(Access::ReadOnly)
            .open(&name)
            .and_then(|q| q.attributes())
        {
            Ok(a) => {
                fields.insert("depth".into(), a.current.into());
                fields.insert("capacity".into(), a.capacity.into());
                fields.insert("message_size".into(), a.message_size.into());
                format!(
                    "depth {}/{} messages of up to {} B",
                    a.current, a.capacity, a.message_size
                )
            }
            Err(e) => {
                fields.insert("depth".into(), Value::Null);
                format!("depth unknown: {}", e.kind())
            }
        };
        // The mqueue file system's own line: `QSIZE:6 NOTIFY:0 SIGNO:0 NOTIFY_PID:0`.
        let status = std::fs::read_to_string(format!("{MQUEUE_DIR}{name}")).unwrap_or_default();
        for (key, field) in [("QSIZE", "queued_bytes"), ("NOTIFY_PID", "notify_pid")] {
            let v = status
                .split_whitespace()
                .filter_map(|w| w.split_once(':'))
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.parse::<u64>().ok());
            fields.insert(field.into(), v.into());
        }
        rows.push(Row {
            kind: "mq",
            name,
            size: None,
            meta: Some(meta),
            detail,
            fields,
        });
    }
}

fn sysv_rows(rows: &mut Vec<Row>, notes: &mut Vec<String>) {
    for kind in SysvKind::ALL {
        let objects = match sysv::list(kind) {
            Ok(v) => v,
            Err(why) => {
                notes.push(format!("System V objects cannot be listed: {why}"));
                continue;
            }
        };
        for o in objects {
            let Some(id) = o.id() else { continue };
            let key = o.num("key").unwrap_or(0);
            let mut fields = Map::new();
            fields.insert("key".into(), key.into());
            fields.insert("id".into(), id.into());
            fields.insert("mode_bits".into(), o.mode().into());
            fields.insert("uid".into(), o.num("uid").into());
            fields.insert(
                "sysvipc".into(),
                Value::Object(
                    o.fields
                        .iter()
                        .map(|(c, v)| (c.clone(), Value::from(v.clone())))
                        .collect(),
                ),
            );
            let (size, detail) = match kind {
                SysvKind::Shm => {
                    let att = o.num("nattch").unwrap_or(0);
                    fields.insert("attached".into(), att.into());
                    fields.insert("creator_pid".into(), o.num("cpid").into());
                    (
                        o.num("size"),
                        format!(
                            "key {key:#x}, {att} attached, creator pid {}",
                            o.num("cpid").unwrap_or(0)
                        ),
                    )
                }
                SysvKind::Sem => {
                    let n = o.num("nsems").unwrap_or(0);
                    fields.insert("semaphores".into(), n.into());
                    (None, format!("key {key:#x}, {n} semaphores"))
                }
                SysvKind::Msg => {
                    let n = o.num("qnum").unwrap_or(0);
                    fields.insert("depth".into(), n.into());
                    (o.num("cbytes"), format!("key {key:#x}, depth {n} messages"))
                }
            };
            rows.push(Row {
                kind: kind.word(),
                name: format!("{}:{id}", kind.id_word()),
                size: size.and_then(|s| u64::try_from(s).ok()),
                meta: None,
                detail,
                fields,
            });
        }
    }
}

/// The permission bits and owner uid of a row.
fn mode_and_uid(r: &Row) -> (Option<u32>, Option<u32>) {
    match &r.meta {
        Some(m) => (Some(m.mode() & 0o7777), Some(m.uid())),
        None => (
            r.fields
                .get("mode_bits")
                .and_then(Value::as_u64)
                .map(|m| m as u32),
            r.fields
                .get("uid")
                .and_then(Value::as_u64)
                .map(|u| u as u32),
        ),
    }
}

/// A row as the JSON object of `ls` (docs/ipc-json.md).
fn row_json(r: &Row, users: &HashMap<u32, String>) -> Map<String, Value> {
    let (mode, uid) = mode_and_uid(r);
    let mut o = r.fields.clone();
    o.remove("mode_bits");
    o.insert("kind".into(), r.kind.into());
    o.insert("name".into(), r.name.clone().into());
    o.insert("mode".into(), mode.map(|m| format!("{m:04o}")).into());
    o.insert("uid".into(), uid.into());
    o.insert(
        "owner".into(),
        uid.and_then(|u| users.get(&u).cloned()).into(),
    );
    o.insert("size".into(), r.size.into());
    o
}

/// Every object on the machine, and what could not be listed.
fn all_rows() -> (Vec<Row>, Vec<String>) {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    shm_rows(&mut rows, &mut notes);
    mq_rows(&mut rows, &mut notes);
    sysv_rows(&mut rows, &mut notes);
    (rows, notes)
}

/// `ipc ls [--json] [--prefix P | NAME...]`: every object, or those whose names start with
/// `prefix`, or those named (a name that matches nothing is a failure, after the listing).
pub fn ls(as_json: bool, prefix: Option<&str>, names: &[String]) -> Result<(), Failure> {
    let (mut rows, notes) = all_rows();
    if let Some(p) = prefix {
        rows.retain(|r| r.name.starts_with(p));
    }
    if !names.is_empty() {
        rows.retain(|r| names.contains(&r.name));
    }
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !rows.iter().any(|r| &r.name == *n))
        .map(|n| esc(n))
        .collect();
    let listed = list(as_json, &rows, notes);
    match missing.as_slice() {
        [] => listed,
        m => Err(Failure::new(format!("not found: {}", m.join(", ")))),
    }
}

/// Prints `rows` as a table or one JSON document, then the notes.
fn list(as_json: bool, rows: &[Row], notes: Vec<String>) -> Result<(), Failure> {
    let users = user_names();
    if as_json {
        let objects: Vec<Value> = rows
            .iter()
            .map(|r| Value::Object(row_json(r, &users)))
            .collect();
        emit_json(&json!({ "version": JSON_VERSION, "objects": objects, "notes": notes }));
        return Ok(());
    }
    let mut cells = vec![["KIND", "NAME", "MODE", "OWNER", "SIZE", "DETAIL"]
        .map(String::from)
        .to_vec()];
    for r in rows {
        let (mode, uid) = mode_and_uid(r);
        cells.push(vec![
            r.kind.to_owned(),
            r.name.clone(),
            mode.map_or("-".into(), |m| format!("{m:04o}")),
            uid.map_or("-".into(), |u| {
                users.get(&u).cloned().unwrap_or_else(|| u.to_string())
            }),
            r.size.map_or("-".into(), |s| s.to_string()),
            r.detail.clone(),
        ]);
    }
    emit(&table(&cells));
    for n in notes {
        err(&format!("ipc: note: {n}\n"));
    }
    Ok(())
}

/// `ipc inspect NAME [--kind K] [--json]`: a segment's header and layout (see
/// [`segment::inspect`]); for a semaphore, a queue or a System V object, what `ls` knows
/// of it, one field a line (System V: every column of `/proc/sysvipc`).
pub fn inspect(name: &str, kind: Option<PosixKind>, as_json: bool) -> Result<(), Failure> {
    let word = if let Some((k, _)) = sysv::parse_name(name) {
        k.word()
    } else {
        ipc_core::name::validate("inspect", name, ipc_core::name::NameKind::Shm)?;
        let k = match kind {
            Some(k) => k,
            None => {
                let kinds = posix_kinds_of(name);
                // A shared memory object first (a segment is one); a name that is nothing
                // gets shm_open's "not found" from the segment path.
                *kinds.first().unwrap_or(&PosixKind::Shm)
            }
        };
        if k == PosixKind::Shm {
            return segment::inspect(name, as_json);
        }
        k.word()
    };
    let (rows, _) = all_rows();
    let row = rows
        .iter()
        .find(|r| r.kind == word && r.name == name)
        .ok_or_else(|| Failure::new(format!("{name}: not found (no {word} of that name)")))?;
    let mut o = row_json(row, &user_names());
    if as_json {
        o.insert("version".into(), JSON_VERSION.into());
        emit_json(&Value::Object(o));
        return Ok(());
    }
    let mut out = String::new();
    let width = 16;
    for key in ["kind", "name"] {
        if let Some(v) = o.remove(key) {
            out.push_str(&format!("{:<width$} {}\n", format!("{key}:"), text_of(&v)));
        }
    }
    for (k, v) in &o {
        match v {
            // System V: the kernel's columns, one a line.
            Value::Object(m) => {
                for (col, x) in m {
                    let key = format!("{k}.{col}:");
                    out.push_str(&format!("{key:<width$} {}\n", text_of(x)));
                }
            }
            v => out.push_str(&format!("{:<width$} {}\n", format!("{k}:"), text_of(v))),
        }
    }
    emit(&out);
    Ok(())
}

/// A JSON value as one escaped line of text.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => esc(s),
        Value::Null => "-".into(),
        other => esc(&other.to_string()),
    }
}

/// The POSIX kinds that have an object called `name`.
fn posix_kinds_of(name: &str) -> Vec<PosixKind> {
    [PosixKind::Shm, PosixKind::Sem, PosixKind::Mq]
        .into_iter()
        .filter(|k| std::fs::symlink_metadata(k.path(name)).is_ok())
        .collect()
}

fn rm_one(name: &str, kind: Option<PosixKind>) -> Result<String, Failure> {
    if let Some((k, id)) = sysv::parse_name(name) {
        sysv::remove(k, id)?;
        return Ok(format!("removed {} {}", k.word(), esc(name)));
    }
    // The name rules (one leading slash, no other) are checked by the library's unlink;
    // check the shape here too, so a path never reaches `format!` above as `/dev/shm/../x`.
    ipc_core::name::validate("rm", name, ipc_core::name::NameKind::Shm)?;
    let kinds = match kind {
        Some(k) => vec![k],
        None => posix_kinds_of(name),
    };
    let k = match kinds.as_slice() {
        [] => {
            return Err(Failure::new(format!(
                "{name}: not found (no shared memory object, semaphore or message queue of \
                 that name; System V objects are named shmid:ID, semid:ID, msqid:ID)"
            )))
        }
        [k] => *k,
        many => {
            let words: Vec<&str> = many.iter().map(|k| k.word()).collect();
            return Err(Failure::new(format!(
                "{name}: ambiguous: there is a {} of that name; say which with --kind",
                words.join(" and a ")
            )));
        }
    };
    match k {
        PosixKind::Shm => ipc_core::shm::unlink(name)?,
        PosixKind::Sem => ipc_core::sem::unlink(name)?,
        PosixKind::Mq => ipc_core::mq::unlink(name)?,
    }
    Ok(format!("removed {} {}", k.word(), esc(name)))
}

/// `ipc rm [--kind K] NAME...`: removes each; a failure for one does not stop the others.
pub fn rm(names: &[String], kind: Option<PosixKind>) -> Result<(), Failure> {
    let mut failures = Vec::new();
    for name in names {
        match rm_one(name, kind) {
            Ok(line) => emit(&format!("{line}\n")),
            Err(f) => failures.push(f.message),
        }
    }
    match failures.len() {
        0 => Ok(()),
        _ => {
            // Every failure but the last is printed here; the last is the exit message.
            let last = failures.pop().unwrap_or_default();
            for f in failures {
                err(&format!("ipc: {f}\n"));
            }
            Err(Failure::new(last))
        }
    }
}

/// What `gc` decided about one segment.
enum GcVerdict {
    /// Certainly stale: removed (or, with `--dry-run`, would be).
    Stale(String),
    /// Possibly stale, but not certainly: kept, with the reason.
    Kept(String),
}

/// Looks at the object `/dev/shm/{file}`: `None` if it is no concern of `gc`.
fn gc_verdict(name: &str) -> Option<(GcVerdict, (u64, u64))> {
    let (file, size) = snapshot::open_read_only(name).ok()?;
    if !snapshot::has_magic(&file, name).ok()? {
        return None;
    }
    let meta = file.metadata().ok()?;
    let id = (meta.dev(), meta.ino());
    let snap = snapshot::take(&file, name, size).ok()?;
    let Verdict::Valid(info) = &snap.verdict else {
        return None;
    };
    let liveness = creator::liveness(info.creator_pid, info.creator_start_time);
    if liveness == Liveness::Alive {
        return None;
    }
    let state = snap.state.unwrap_or(0);
    let gone = match liveness {
        Liveness::PidReused => format!("pid {} (reused since)", info.creator_pid),
        _ => format!("pid {}", info.creator_pid),
    };
    if state == 0 || state == 1 {
        // A creator that has not published holds its lock (the init protocol, FORMAT.md):
        // held with the recorded creator gone means a process that shares the creator's
        // open file description (a forked child) may still finish it.
        use std::os::fd::AsFd;
        if ipc_core::shm::ofd::is_locked(file.as_fd()).unwrap_or(true) {
            return Some((
                GcVerdict::Kept(format!(
                    "its creator ({gone}) is gone but another process holds its creator lock \
                     (state {}): it may still be published",
                    snapshot::state_name(state)
                )),
                id,
            ));
        }
        return Some((
            GcVerdict::Stale(format!(
                "its creator ({gone}) died before publishing it (state {})",
                snapshot::state_name(state)
            )),
            id,
        ));
    }
    // Ready (or failed) with the creator gone: stale only if the creator meant to remove
    // it, which the header does not record; a segment kept on purpose
    // (`unlink_on_drop(false)`) looks the same. Say so instead of guessing.
    let maps = procfs::mappers(&format!("/dev/shm{name}"))?;
    if maps.pids.is_empty() {
        let certainty = if maps.certainly_none() {
            "nobody maps it"
        } else {
            "no readable process maps it"
        };
        return Some((
            GcVerdict::Kept(format!(
                "its creator ({gone}) is gone and {certainty}, but it may have been kept on \
                 purpose (the header does not say); `ipc rm {name}` if it is stale"
            )),
            id,
        ));
    }
    None
}

/// Removes the unpublished segment `name` judged stale, the way every opener does
/// ([`creator::remove_if_abandoned`]: its lock taken, state and creator checked again, the
/// name removed only while it still refers to the locked object): `false` if it was not
/// removed (being made after all, published meanwhile, or no longer the object `id`);
/// `Err(Ok(why))` if it cannot be opened read-write (another user's object: EACCES).
fn remove_abandoned(name: &str, id: (u64, u64)) -> Result<bool, Result<String, ipc_core::Error>> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::OpenOptionsExt;
    // Read-write: the lock is a write lock. O_NOFOLLOW | O_NONBLOCK as every open here.
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(format!("/dev/shm{name}"))
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Ok(format!("cannot open read-write: {e}"))),
    };
    if file.metadata().map(|m| (m.dev(), m.ino())).ok() != Some(id) {
        return Ok(false);
    }
    Ok(matches!(
        creator::remove_if_abandoned(name, file.as_fd()).map_err(Err)?,
        creator::Reclaim::Removed(_)
    ))
}

/// `ipc gc [--dry-run] [--prefix P]`.
pub fn gc(dry_run: bool, prefix: &str) -> Result<(), Failure> {
    let entries =
        files("/dev/shm").map_err(|e| Failure::new(format!("/dev/shm: cannot be read: {e}")))?;
    let mut out = String::new();
    let mut failures = Vec::new();
    for (file, _) in entries {
        if file.starts_with("sem.") {
            continue;
        }
        let name = format!("/{file}");
        if !name.starts_with(prefix) {
            continue;
        }
        let Some((verdict, id)) = gc_verdict(&name) else {
            continue;
        };
        match verdict {
            GcVerdict::Kept(why) => out.push_str(&format!("kept {}: {}\n", esc(&name), esc(&why))),
            GcVerdict::Stale(why) if dry_run => {
                out.push_str(&format!("would remove {}: {}\n", esc(&name), esc(&why)))
            }
            GcVerdict::Stale(why) => match remove_abandoned(&name, id) {
                Ok(true) => out.push_str(&format!("removed {}: {}\n", esc(&name), esc(&why))),
                Ok(false) => {}
                Err(Ok(why)) => out.push_str(&format!("kept {}: {}\n", esc(&name), esc(&why))),
                Err(Err(e)) => failures.push(e.to_string()),
            },
        }
    }
    emit(&out);
    match failures.pop() {
        None => Ok(()),
        Some(last) => {
            for f in failures {
                err(&format!("ipc: {f}\n"));
            }
            Err(Failure::new(last))
        }
    }
}
