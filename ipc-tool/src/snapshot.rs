//! Reading a segment without changing it: `shm_open(O_RDONLY)`, `fstat`, then `pread` of the
//! header and the schema into a private buffer, which is validated with the validator of
//! `ipc-collections` (`FORMAT.md`).
//!
//! The object is never mapped: `pread` on an object that another process truncates meanwhile
//! returns fewer bytes (reported as a truncated object) where a mapping would fault with
//! `SIGBUS`. Nothing here writes to the object, and the descriptor is read-only.

use std::fs::File;
use std::os::unix::fs::FileExt;

use ipc_collections::format::{self, Header, SegmentInfo, HEADER_LEN, MAGIC};
use ipc_core::name::NameKind;
use ipc_core::{Errno, Error, ErrorKind};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// The state word's values (`FORMAT.md`, offset 8).
pub const STATE_NAMES: [&str; 4] = ["unset", "initialising", "ready", "failed"];

/// How often a header read is repeated when the state word changes while it is read (a
/// creator publishing the segment at that moment).
const READ_ROUNDS: usize = 20;

/// What a segment's header says, read once.
#[derive(Debug)]
pub struct Snapshot {
    /// The object's name (`/NAME`).
    pub name: String,
    /// Its size as `fstat` reports it.
    pub size: u64,
    /// The first 256 bytes, if the object has that many.
    pub header: Option<[u8; HEADER_LEN]>,
    /// The schema bytes the header claims (as many as the object holds, at most
    /// `MAX_SCHEMA_LEN`).
    pub schema: Vec<u8>,
    /// The state word (native byte order), if the header was read.
    pub state: Option<u32>,
    /// What validation found.
    pub verdict: Verdict,
}

/// The outcome of validating a header.
#[derive(Debug)]
pub enum Verdict {
    /// The object does not start with the segment magic (all zeros: a creator that has not
    /// written the header yet, or any other object).
    NotASegment(String),
    /// The magic is there but a check of `FORMAT.md` fails; the text says which.
    Corrupted(String),
    /// Every header field checks out.
    Valid(SegmentInfo),
}

fn io_error(op: &'static str, name: &str, e: &std::io::Error) -> Error {
    let errno = e.raw_os_error().map_or(Errno::EIO, Errno::from_raw);
    Error::os(op, errno).with_name(name)
}

/// `shm_open(name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)` + `fstat`: opens the object for
/// reading only. `O_NONBLOCK` keeps a FIFO planted in `/dev/shm` from blocking the open;
/// anything but a regular file is [`ErrorKind::WrongType`].
///
/// # References
/// [shm_open(3)](https://man7.org/linux/man-pages/man3/shm_open.3.html),
/// [fstat(2)](https://man7.org/linux/man-pages/man2/fstat.2.html)
#[doc(alias = "shm_open")]
pub fn open_read_only(name: &str) -> Result<(File, u64), Error> {
    let c_name = ipc_core::name::validate("shm_open", name, NameKind::Shm)?;
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = nix::sys::mman::shm_open(c_name.as_c_str(), flags, Mode::empty())
        .map_err(|e| Error::os("shm_open", Errno::from_raw(e as i32)).with_name(name))?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(|e| io_error("fstat", name, &e))?;
    if !meta.file_type().is_file() {
        return Err(Error::new("fstat", ErrorKind::WrongType).with_name(name));
    }
    Ok((file, meta.len()))
}

/// `pread` of up to `len` bytes at `offset`; returns what the object holds (fewer bytes at
/// its end).
pub fn read_at(file: &File, name: &str, offset: u64, len: usize) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("pread", name, &e)),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// `pread` of exactly `len` bytes at `offset`; an object that ends earlier (truncated since
/// it was validated) is an error, not a short read.
pub fn read_exact_at(file: &File, name: &str, offset: u64, len: usize) -> Result<Vec<u8>, Error> {
    let buf = read_at(file, name, offset, len)?;
    if buf.len() != len {
        return Err(Error::with_text(
            "pread",
            ErrorKind::InvalidSize,
            format!(
                "the object ends before byte {}: truncated after it was validated",
                offset.saturating_add(len as u64)
            ),
        )
        .with_name(name));
    }
    Ok(buf)
}

/// Whether the object `name` starts with the segment magic (for `list`: a cheap first look).
pub fn has_magic(file: &File, name: &str) -> Result<bool, Error> {
    Ok(read_at(file, name, 0, MAGIC.len())? == MAGIC)
}

/// Reads and validates the header of the object open as `file` (of `size` bytes).
pub fn take(file: &File, name: &str, size: u64) -> Result<Snapshot, Error> {
    let mut snap = take_once(file, name, size)?;
    for _ in 1..READ_ROUNDS {
        // The state word (bytes 8..12) is copied before the rest of the header, and the
        // creator stores a non-zero state only after the whole header (with Release): a
        // copy that shows a non-zero state holds the final header. A copy at state 0 may
        // have raced the creator's writes, so a corrupted-looking one is read again.
        let settled = match snap.state {
            Some(0) => !matches!(snap.verdict, Verdict::Corrupted(_)),
            _ => true,
        };
        if settled {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        snap = take_once(file, name, size)?;
    }
    // A header that stays inconsistent is reported as it is.
    Ok(snap)
}

fn take_once(file: &File, name: &str, size: u64) -> Result<Snapshot, Error> {
    let head = read_at(file, name, 0, HEADER_LEN)?;
    let mut snap = Snapshot {
        name: name.to_owned(),
        size,
        header: None,
        schema: Vec::new(),
        state: None,
        verdict: Verdict::NotASegment(String::new()),
    };
    if head.len() >= MAGIC.len() && head[..MAGIC.len()] != MAGIC {
        snap.verdict = Verdict::NotASegment("no segment magic \"ipc-seg\\0\" at offset 0".into());
        return Ok(snap);
    }
    let header: [u8; HEADER_LEN] = match head.as_slice().try_into() {
        Ok(h) => h,
        Err(_) => {
            snap.verdict = Verdict::Corrupted(format!(
                "object of {} bytes is smaller than the {HEADER_LEN}-byte header",
                head.len()
            ));
            if head.len() < MAGIC.len() {
                snap.verdict = Verdict::NotASegment(format!(
                    "object of {} bytes has no room for a header",
                    head.len()
                ));
            }
            return Ok(snap);
        }
    };
    let state = Header::from(header).state;
    snap.header = Some(header);
    snap.state = Some(state);
    let schema_len = format::claimed_schema_len(&header).unwrap_or(0);
    snap.schema = read_at(file, name, HEADER_LEN as u64, schema_len)?;
    let mut bytes = Vec::with_capacity(HEADER_LEN + snap.schema.len());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&snap.schema);
    // The validator checks every field against the real size; the state word is ours to
    // check.
    snap.verdict = match format::validate_header(name, &bytes, size) {
        Ok(_) if state as usize >= STATE_NAMES.len() => {
            Verdict::Corrupted(format!("state word {state:#x} is none of 0..=3"))
        }
        Ok(info) => control_verdict(file, name, state, info)?,
        Err(e) => match e.kind() {
            ipc_collections::ErrorKind::Corrupted => {
                Verdict::Corrupted(e.detail().unwrap_or_default().to_owned())
            }
            ipc_collections::ErrorKind::WrongType => {
                Verdict::NotASegment(e.detail().unwrap_or("not a segment").to_owned())
            }
            _ => Verdict::Corrupted(e.to_string()),
        },
    };
    Ok(snap)
}

/// The verdict on a segment whose header is valid: once it is ready, its control block
/// (read with `pread`) is checked by the validator the openers use
/// ([`format::validate_control`]), so the tool refuses what they refuse. Before that the
/// control block is not formatted yet, and only the header is judged.
fn control_verdict(
    file: &File,
    name: &str,
    state: u32,
    info: SegmentInfo,
) -> Result<Verdict, Error> {
    if state != 2 || info.control.is_empty() {
        return Ok(Verdict::Valid(info));
    }
    let control = read_at(file, name, info.control.start as u64, info.control.len())?;
    Ok(match format::validate_control(name, &info, &control) {
        Ok(_) => Verdict::Valid(info),
        Err(e) => Verdict::Corrupted(match e.kind() {
            ipc_collections::ErrorKind::Corrupted => e.detail().unwrap_or_default().to_owned(),
            _ => e.to_string(),
        }),
    })
}

/// The name of a state word's value.
pub fn state_name(state: u32) -> String {
    STATE_NAMES
        .get(state as usize)
        .map_or_else(|| format!("invalid ({state:#x})"), |s| (*s).to_owned())
}
