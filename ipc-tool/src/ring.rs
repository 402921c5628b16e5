//! `ipc ring create|push|pop|status`, and the ring view of `ls` and `inspect`.
//!
//! `create`, `push` and `pop` use byte rings ([`ipc_collections::ByteRing`]) through the
//! library, as any other process does: `push` attaches as the ring's producer and `pop` as
//! its consumer for as long as the command runs, then detach. `status` (and the ring
//! section of `ls` and `inspect`) works on rings of every flavour without mapping or
//! attaching: the control block is read with `pread` (after the header was validated) and
//! decoded by [`RingStatus::from_control_bytes`], so a ring that is being initialised does
//! not make the tool wait and an object truncated meanwhile cannot fault it.
//!
//! Frames are bytes. `pop` prints a frame that is UTF-8 as it is, one per line, with control
//! characters (a newline inside the frame too) escaped as everywhere in the tool
//! ([`crate::out::escape_controls`]); the bytes of a frame that are not UTF-8 are written
//! as `\xNN`. `--raw` writes the bytes exactly. A frame is consumed only once it is
//! written: one that cannot be (stdout closed) stays in the ring.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{BufRead as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::time::Duration;

use ipc_collections::ring::bytes;
use ipc_collections::ring::control::Flavor;
use ipc_collections::ring::RingStatus;
use ipc_collections::{ByteRing, ErrorKind, Kind, PeerExit, SegmentInfo};
use serde_json::{json, Value};

use crate::out::{emit, emit_json, esc, escape_controls, JSON_VERSION};
use crate::snapshot::{self, Snapshot, Verdict};
use crate::{segment, Failure};

/// How long the commands wait for a creator that is still initialising the ring.
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);

/// The flavour as a JSON word: `spsc`, `mpmc`, `bytes` (`None`: an unknown code).
fn flavor_word(f: Option<Flavor>) -> Option<&'static str> {
    f.map(|f| match f {
        Flavor::Spsc => "spsc",
        Flavor::Mpmc => "mpmc",
        Flavor::Bytes => "bytes",
    })
}

/// The flavour in prose.
fn flavor_text(f: Option<Flavor>) -> &'static str {
    match f {
        Some(Flavor::Spsc) => "SPSC ring",
        Some(Flavor::Mpmc) => "MPMC ring",
        Some(Flavor::Bytes) => "byte ring",
        None => "ring of an unknown flavour",
    }
}

/// What the ring counts in: bytes (byte ring) or slots.
fn unit(s: &RingStatus) -> &'static str {
    if s.flavor == Some(Flavor::Bytes) {
        "bytes"
    } else {
        "slots"
    }
}

/// The control block of a validated, ready ring segment open as `file`, decoded; `None`
/// for any other segment (not a ring, not valid, not ready: its control block is not
/// formatted yet).
pub fn status_of(file: &std::fs::File, snap: &Snapshot) -> Result<Option<RingStatus>, Failure> {
    let Verdict::Valid(info) = &snap.verdict else {
        return Ok(None);
    };
    if info.kind != Kind::Ring || snap.state != Some(2) {
        return Ok(None);
    }
    let bytes = snapshot::read_exact_at(
        file,
        &snap.name,
        info.control.start as u64,
        info.control.len(),
    )?;
    RingStatus::from_control_bytes(info, &bytes)
        .map(Some)
        .ok_or_else(|| {
            Failure::new(format!(
                "{}: corrupted segment: a ring control block of {} bytes",
                snap.name,
                bytes.len()
            ))
        })
}

fn attached_json(a: &[ipc_collections::ring::Attached]) -> Value {
    a.iter()
        .map(|p| json!({ "pid": p.pid, "alive": p.alive }))
        .collect()
}

/// The `ring` object of the JSON documents (docs/ipc-json.md).
pub fn status_json(s: &RingStatus) -> Value {
    json!({
        "flavor": flavor_word(s.flavor),
        "unit": unit(s),
        "capacity": s.capacity,
        "elem_size": s.elem_size,
        "max_frame": (s.flavor == Some(Flavor::Bytes)).then(|| bytes::max_frame(s.capacity)),
        "head": s.head,
        "tail": s.tail,
        "len": s.len,
        "producers": attached_json(&s.producers),
        "consumers": attached_json(&s.consumers),
        "data_sleepers": s.data_sleepers,
        "space_sleepers": s.space_sleepers,
        "lost": s.lost,
    })
}

/// Participants as text: `pid 12 (alive), pid 13 (dead)` or `none`.
fn attached_text(a: &[ipc_collections::ring::Attached]) -> String {
    if a.is_empty() {
        return "none".into();
    }
    let v: Vec<String> = a
        .iter()
        .map(|p| format!("pid {} ({})", p.pid, if p.alive { "alive" } else { "dead" }))
        .collect();
    v.join(", ")
}

fn len_text(s: &RingStatus) -> String {
    match s.len {
        Some(n) => n.to_string(),
        None => "? (counters corrupted)".into(),
    }
}

/// The ring's status as `key: value` lines, each indented by `indent`.
pub fn status_text(s: &RingStatus, indent: &str) -> String {
    let mut o = String::new();
    let u = unit(s);
    let w = 16 - indent.len();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(o, "{indent}{:<w$} {v}", format!("{k}:"));
    };
    line("flavour", flavor_text(s.flavor).into());
    let cap = match s.flavor {
        Some(Flavor::Bytes) => format!(
            "{} bytes (frames up to {} bytes)",
            s.capacity,
            bytes::max_frame(s.capacity)
        ),
        _ => format!("{} slots of {} bytes", s.capacity, s.elem_size),
    };
    line("capacity", cap);
    line(
        "length",
        format!("{} {u} (head {}, tail {})", len_text(s), s.head, s.tail),
    );
    line("producers", attached_text(&s.producers));
    line("consumers", attached_text(&s.consumers));
    line(
        "sleepers",
        format!(
            "{} waiting for data, {} waiting for space",
            s.data_sleepers, s.space_sleepers
        ),
    );
    line("lost", format!("{} messages", s.lost));
    o
}

/// `byte ring, 24/4096 bytes used, producers pid 1 (alive), consumers none`: the ring part
/// of an `ls` row.
pub fn ls_text(s: &RingStatus) -> String {
    format!(
        "{}, {}/{} {} used, producers {}, consumers {}",
        flavor_text(s.flavor),
        len_text(s),
        s.capacity,
        unit(s),
        attached_text(&s.producers),
        attached_text(&s.consumers)
    )
}

/// `ipc ring create NAME --capacity BYTES [--mode M]`: the ring persists.
pub fn create(name: &str, capacity: u64, mode: u32) -> Result<(), Failure> {
    let r = ByteRing::options()
        .capacity(capacity)
        .mode(mode)
        .unlink_on_drop(false)
        .create(name)?;
    emit(&format!(
        "created byte ring {} ({} bytes, frames up to {} bytes)\n",
        esc(name),
        r.capacity(),
        r.max_frame()
    ));
    Ok(())
}

/// Opens the byte ring `name`; another kind of segment or ring is a failure saying so.
/// With `follow`, the other side's departure is waited out ([`PeerExit::Wait`]).
fn open(name: &str, follow: bool) -> Result<ByteRing, Failure> {
    ByteRing::options()
        .timeout(OPEN_TIMEOUT)
        .on_peer_exit(if follow {
            PeerExit::Wait
        } else {
            PeerExit::Disconnect
        })
        .open(name)
        .map_err(|e| match e.kind() {
            ErrorKind::WrongType => Failure::new(format!(
                "{name}: not a byte ring ({}); `ipc ring` pushes and pops byte rings",
                e.detail().unwrap_or("another kind of object")
            )),
            _ => e.into(),
        })
}

/// A failure to attach as `side`: a slot held by a live process is named.
fn attach_failure(name: &str, ring: &ByteRing, side: &str, e: ipc_collections::Error) -> Failure {
    if !matches!(e.kind(), ErrorKind::LimitReached) {
        return e.into();
    }
    let st = ring.status();
    let holders = if side == "producer" {
        &st.producers
    } else {
        &st.consumers
    };
    Failure::new(format!(
        "{name}: busy: the ring already has a {side} ({}); a byte ring has one",
        attached_text(holders)
    ))
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// `ipc ring push NAME [MESSAGE|-] [--timeout S] [--follow]`: MESSAGE as one frame, or
/// (`-` or no MESSAGE) every line of stdin as a frame, without its newline, all through one
/// producer attachment.
pub fn push(
    name: &str,
    message: Option<OsString>,
    timeout: Option<Duration>,
    follow: bool,
) -> Result<(), Failure> {
    let ring = open(name, follow)?;
    let mut tx = ring
        .producer()
        .map_err(|e| attach_failure(name, &ring, "producer", e))?;
    let max = ring.max_frame();
    let mut sent = 0usize;
    let mut send = |frame: &[u8]| -> Result<(), Failure> {
        if frame.len() > max {
            return Err(Failure::new(format!(
                "{name}: a frame of {} bytes is larger than the ring's largest frame ({max} \
                 bytes); {} sent",
                frame.len(),
                plural(sent, "frame")
            )));
        }
        tx.send(frame, timeout).map_err(|e| {
            let done = plural(sent, "frame");
            Failure::new(match e.kind() {
                ipc_collections::ErrorKind::Timeout => format!(
                    "{name}: timed out: no room for a frame of {} bytes within {} s ({done} sent)",
                    frame.len(),
                    timeout.unwrap_or_default().as_secs_f64()
                ),
                ipc_collections::ErrorKind::Disconnected => format!(
                    "{name}: disconnected: the consumer left and the ring is full ({done} sent)"
                ),
                _ => format!("{}", e.or_name(name).with_detail(format!("{done} sent"))),
            })
        })?;
        sent += 1;
        Ok(())
    };
    match message {
        Some(m) if m != "-" => send(m.as_bytes()),
        _ => {
            let mut stdin = std::io::stdin().lock();
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = stdin
                    .read_until(b'\n', &mut line)
                    .map_err(|e| Failure::new(format!("{name}: reading stdin: {e}")))?;
                if n == 0 {
                    return Ok(());
                }
                if line.last() == Some(&b'\n') {
                    line.pop();
                }
                send(&line)?;
            }
        }
    }
}

/// A frame as one line of text: UTF-8 runs with their control characters escaped, other
/// bytes as `\xNN`.
pub fn frame_text(frame: &[u8]) -> String {
    let mut out = String::new();
    for chunk in frame.utf8_chunks() {
        out.push_str(&escape_controls(chunk.valid(), false));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// `ipc ring pop NAME [--timeout S] [--count N | --follow] [--raw]`: receives `count`
/// frames (`None`: until interrupted, surviving producer restarts), each waited for up to
/// `timeout`, printing each as it arrives.
pub fn pop(
    name: &str,
    timeout: Option<Duration>,
    count: Option<u64>,
    raw: bool,
) -> Result<(), Failure> {
    let ring = open(name, count.is_none())?;
    let mut rx = ring
        .consumer()
        .map_err(|e| attach_failure(name, &ring, "consumer", e))?;
    for got in 0..count.unwrap_or(u64::MAX) {
        let of = match count {
            Some(count) if count > 1 => format!(" ({got} of {count} frames received)"),
            Some(_) => String::new(),
            None => format!(" ({got} frames received)"),
        };
        let frame = rx.recv(timeout).map_err(|e| {
            Failure::new(match e.kind() {
                ipc_collections::ErrorKind::Timeout => format!(
                    "{name}: timed out: no frame within {} s{of}",
                    timeout.unwrap_or_default().as_secs_f64()
                ),
                ipc_collections::ErrorKind::Disconnected => {
                    format!("{name}: disconnected: the producer left and the ring is drained{of}")
                }
                _ => e.or_name(name).to_string(),
            })
        })?;
        let text;
        let bytes: &[u8] = if raw {
            &frame
        } else {
            text = format!("{}\n", frame_text(&frame));
            text.as_bytes()
        };
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
            // Not printed, so not consumed: a frame is released to the producer only when
            // the `Frame` drops, and forgetting it leaves it (and `head`) where it was, for
            // the next consumer. `ipc ring pop --count 9 | head -1` loses nothing.
            std::mem::forget(frame);
            return Err(Failure::new(format!(
                "{name}: cannot write to stdout ({e}): the frame was left in the ring{of}"
            )));
        }
    }
    Ok(())
}

/// `ipc ring status NAME [--json]`: the control block of a ring of any flavour, read
/// without attaching.
pub fn status(name: &str, as_json: bool) -> Result<(), Failure> {
    let (file, snap) = segment::open_snapshot(name)?;
    let info: &SegmentInfo = segment::valid(&snap)?;
    if info.kind != Kind::Ring {
        return Err(Failure::new(format!(
            "{name}: not a ring (expected ring segment, found {})",
            info.kind
        )));
    }
    if let Some(why) = segment::not_ready_reason(&snap, info) {
        return Err(Failure::new(format!("{name}: not ready: {why}")));
    }
    let st = status_of(&file, &snap)?
        .ok_or_else(|| Failure::new(format!("{name}: the ring's control block cannot be read")))?;
    if as_json {
        emit_json(&json!({
            "version": JSON_VERSION,
            "name": name,
            "type_name": info.type_name,
            "ring": status_json(&st),
        }));
    } else {
        emit(&format!(
            "{:<16} {}\n{:<16} {}\n{}",
            "name:",
            esc(name),
            "type:",
            esc(&info.type_name),
            status_text(&st, "")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::frame_text;

    #[test]
    fn frames_print_as_one_escaped_line() {
        assert_eq!(frame_text(b"hello world"), "hello world");
        assert_eq!(frame_text("grüße".as_bytes()), "grüße");
        assert_eq!(frame_text(b"a\nb\x1b[2J"), "a\\nb\\u{1b}[2J");
        assert_eq!(frame_text(b"\xff\xfeok\xc3"), "\\xff\\xfeok\\xc3");
        assert_eq!(frame_text(b""), "");
    }
}
