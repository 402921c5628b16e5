//! `ipc-inspect`: looks at the typed shared-memory segments of `ipc-collections` from the
//! command line (`list`, `show`, `schema`, `diff`, `dump`, `unlink`).
//!
//! Segments are read with `shm_open(O_RDONLY)` and `pread`, never mapped and never written
//! (only `unlink` changes anything: it removes a name). Every header is validated with the
//! validator of `ipc-collections` against the object's real size before anything it says is
//! used; a corrupted, truncated or hostile object gives a message and an exit code, never a
//! panic.
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]
#![warn(missing_docs)]

mod header;
mod snapshot;
mod tree;

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ipc_collections::SegmentInfo;
use ipc_core::layout::diff_schemas;

use ipc_collections::creator;
use ipc_collections::format::Header;
use snapshot::{Snapshot, Verdict};

/// Exit codes (also listed in `--help`).
mod exit {
    /// Success (`diff`: the layouts are the same).
    pub const OK: u8 = 0;
    /// `diff` only: the two segments differ.
    pub const DIFFERENT: u8 = 1;
    /// The object could not be read: no such name, permission denied, an invalid name, not
    /// a regular file, an I/O error; or `dump` of a kind it does not read (a ring). (2 is
    /// clap's usage error.)
    pub const UNREADABLE: u8 = 3;
    /// The object carries the segment magic but a check of FORMAT.md fails.
    pub const CORRUPTED: u8 = 4;
    /// The object is not a segment (no magic at offset 0).
    pub const NOT_A_SEGMENT: u8 = 5;
    /// The header is valid but the segment is not ready (unset, initialising, failed).
    pub const NOT_READY: u8 = 6;
}

const AFTER_HELP: &str = "\
Exit status:
  0  success (diff: same layout)
  1  diff: the segments differ
  2  usage error
  3  the object cannot be read (not found, permission denied, invalid name, not a file;
     dump: a ring segment)
  4  corrupted segment (the header fails a check of FORMAT.md; the reason is printed)
  5  not a segment (no \"ipc-seg\" magic)
  6  valid header, but the segment is not ready (unset, initialising or failed)

Segments are opened read-only and never modified, except by `unlink`.";

/// Inspect the typed shared-memory segments of ipc-collections (see FORMAT.md).
#[derive(Debug, Parser)]
#[command(name = "ipc-inspect", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every object in /dev/shm that carries the segment magic.
    List,
    /// Print every header field, the schema as a tree, and the validation result.
    Show {
        /// The segment's name, e.g. /web-stats.
        name: String,
    },
    /// Print the schema string of a valid segment.
    Schema {
        /// The segment's name.
        name: String,
        /// Draw the layout as a tree instead of printing the one-line string.
        #[arg(long)]
        tree: bool,
    },
    /// Compare two segments: kind, element type, dims, and their schemas field by field.
    Diff {
        /// The first segment (the "expected" side).
        name: String,
        /// The second segment.
        other: String,
    },
    /// Print the values in a ready segment: an array's elements, a value's scalar fields.
    ///
    /// The payload is read as a snapshot, without taking an array's lock: a writer that
    /// holds it at that moment may be caught halfway.
    Dump {
        /// The segment's name.
        name: String,
        /// Print at most this many values.
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
    /// Remove a segment's name (shm_unlink); existing mappings stay valid.
    Unlink {
        /// The segment's name.
        name: String,
        /// Also remove an object that is not a segment (no magic).
        #[arg(long)]
        force: bool,
    },
}

/// A failure: the message for stderr and the exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<ipc_core::Error> for Failure {
    fn from(e: ipc_core::Error) -> Self {
        Failure::new(exit::UNREADABLE, e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::List => list(),
        Command::Show { name } => show(&name),
        Command::Schema { name, tree } => schema(&name, tree),
        Command::Diff { name, other } => diff(&name, &other),
        Command::Dump { name, max } => dump(&name, max),
        Command::Unlink { name, force } => unlink(&name, force),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            err(&format!("ipc-inspect: {}\n", f.message));
            ExitCode::from(f.code)
        }
    }
}

/// `text` with its control characters written as escapes (`\u{1b}`), all of them or all but
/// the newline: type names, schemas and object names come from objects anyone may write,
/// and must not send escape sequences to the terminal or forge lines of a table.
fn escape_controls(text: &str, keep_newlines: bool) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && !(keep_newlines && c == '\n') {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Writes `text` to stdout, control characters other than the newline escaped. A closed
/// pipe (`ipc-inspect list | head -1`) or a full disk is not worth a panic: the output is
/// simply cut.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(escape_controls(text, true).as_bytes())
        .and_then(|()| out.flush());
}

/// Writes `text` to stderr as [`emit`] does to stdout.
fn err(text: &str) {
    let _ = std::io::stderr()
        .lock()
        .write_all(escape_controls(text, true).as_bytes());
}

/// Opens and validates `name`.
fn snapshot(name: &str) -> Result<Snapshot, Failure> {
    Ok(open_snapshot(name)?.1)
}

/// Opens and validates `name`, keeping the file open for reading the payload.
fn open_snapshot(name: &str) -> Result<(std::fs::File, Snapshot), Failure> {
    let (file, size) = snapshot::open_read_only(name)?;
    let snap = snapshot::take(&file, name, size)?;
    Ok((file, snap))
}

/// The validated header of a ready segment, or the failure that explains why there is none.
fn valid(snap: &Snapshot) -> Result<&SegmentInfo, Failure> {
    match &snap.verdict {
        Verdict::NotASegment(why) => Err(Failure::new(
            exit::NOT_A_SEGMENT,
            format!("{}: not a segment: {why}", snap.name),
        )),
        Verdict::Corrupted(why) => Err(Failure::new(
            exit::CORRUPTED,
            format!("{}: corrupted segment: {why}", snap.name),
        )),
        Verdict::Valid(info) => Ok(info),
    }
}

fn dims_text(dims: &[u64]) -> String {
    let parts: Vec<String> = dims.iter().map(u64::to_string).collect();
    format!("[{}]", parts.join(", "))
}

fn list() -> Result<u8, Failure> {
    let dir = std::fs::read_dir("/dev/shm")
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("/dev/shm: {e}")))?;
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .map(|n| format!("/{n}"))
        .collect();
    names.sort();
    let mut rows = vec![[
        "NAME", "KIND", "TYPE", "DIMS", "SIZE", "STATE", "CREATOR", "ALIVE", "NOTE",
    ]
    .map(String::from)];
    let mut unreadable = 0usize;
    for name in names {
        let Ok((file, size)) = snapshot::open_read_only(&name) else {
            unreadable += 1;
            continue;
        };
        match snapshot::has_magic(&file, &name) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => {
                unreadable += 1;
                continue;
            }
        }
        let Ok(snap) = snapshot::take(&file, &name, size) else {
            unreadable += 1;
            continue;
        };
        rows.push(list_row(&snap));
    }
    // A newline in a name or note would start a forged row: escape it in the cells.
    for cell in rows.iter_mut().flatten() {
        *cell = escape_controls(cell, false);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    emit(&out);
    if unreadable > 0 {
        err(&format!(
            "ipc-inspect: {unreadable} object(s) in /dev/shm could not be read (skipped)\n"
        ));
    }
    Ok(exit::OK)
}

fn list_row(snap: &Snapshot) -> [String; 9] {
    let size = snap.size.to_string();
    let Some(raw) = snap.header.map(Header::from) else {
        let note = match &snap.verdict {
            Verdict::Corrupted(why) | Verdict::NotASegment(why) => why.clone(),
            Verdict::Valid(_) => String::new(),
        };
        let dash = || "-".to_owned();
        return [
            snap.name.clone(),
            dash(),
            dash(),
            dash(),
            size,
            "corrupted".into(),
            dash(),
            dash(),
            note,
        ];
    };
    let (state, note) = match &snap.verdict {
        Verdict::Valid(_) => (snapshot::state_name(raw.state), String::new()),
        Verdict::Corrupted(why) | Verdict::NotASegment(why) => ("corrupted".into(), why.clone()),
    };
    let alive = if raw.creator_pid > 0 {
        creator::liveness(raw.creator_pid, raw.creator_start_time)
            .word()
            .to_owned()
    } else {
        "-".into()
    };
    let dims = if raw.kind == 1 {
        "-".to_owned()
    } else {
        let parts: Vec<String> = raw.used_dims().iter().map(u64::to_string).collect();
        parts.join("x")
    };
    [
        snap.name.clone(),
        raw.kind_name(),
        String::from_utf8_lossy(raw.type_name_bytes()).into_owned(),
        dims,
        size,
        state,
        raw.creator_pid.to_string(),
        alive,
        note,
    ]
}

fn show(name: &str) -> Result<u8, Failure> {
    let snap = snapshot(name)?;
    let mut out = String::new();
    let _ = writeln!(out, "name:            {}", snap.name);
    let _ = writeln!(out, "object size:     {} bytes", snap.size);
    if let Some(h) = &snap.header {
        out.push_str(&header_text(&Header::from(*h), &snap));
    }
    let schema_text = String::from_utf8_lossy(&snap.schema);
    if snap.header.is_some() {
        let _ = writeln!(out, "schema:          {schema_text}");
    }
    let verdict = match &snap.verdict {
        Verdict::Valid(info) => {
            match tree::render(&info.schema) {
                Ok(t) => {
                    out.push_str("layout:\n");
                    for line in t.lines() {
                        let _ = writeln!(out, "  {line}");
                    }
                }
                Err(why) => {
                    let _ = writeln!(out, "layout:          (schema not drawable: {why})");
                }
            }
            let st = snap.state.unwrap_or(0);
            if st == 2 {
                let _ = writeln!(out, "validation:      ok");
                Ok(exit::OK)
            } else {
                let why = match st {
                    0 => "the creator has not published the header yet (state unset)".to_owned(),
                    1 => {
                        let l = creator::liveness(info.creator_pid, info.creator_start_time);
                        if l == creator::Liveness::Alive {
                            "the creator is still initialising it".to_owned()
                        } else {
                            format!(
                                "the creator (pid {}) died during initialisation; remove it \
                                 with `ipc-inspect unlink {}`",
                                info.creator_pid, snap.name
                            )
                        }
                    }
                    _ => "the creator's initialisation failed".to_owned(),
                };
                let _ = writeln!(out, "validation:      header ok, segment not ready: {why}");
                Err(Failure::new(
                    exit::NOT_READY,
                    format!("{}: not ready: {why}", snap.name),
                ))
            }
        }
        Verdict::Corrupted(why) => {
            let _ = writeln!(out, "validation:      CORRUPTED: {why}");
            valid(&snap).map(|_| exit::OK)
        }
        Verdict::NotASegment(why) => {
            let _ = writeln!(out, "validation:      not a segment: {why}");
            valid(&snap).map(|_| exit::OK)
        }
    };
    emit(&out);
    verdict
}

fn header_text(h: &Header, snap: &Snapshot) -> String {
    let mut o = String::new();
    let magic_ok = h.magic == ipc_collections::format::MAGIC;
    let _ = writeln!(o, "header:");
    let _ = writeln!(
        o,
        "  magic:           {} ({})",
        h.magic.escape_ascii(),
        if magic_ok { "ok" } else { "wrong" }
    );
    let _ = writeln!(
        o,
        "  state:           {} ({})",
        h.state,
        snapshot::state_name(h.state)
    );
    let bom = match h.byte_order {
        0x0102_0304 => "this machine's byte order",
        0x0403_0201 => "the other byte order",
        _ => "invalid",
    };
    let _ = writeln!(o, "  byte_order:      {:#010x} ({bom})", h.byte_order);
    let _ = writeln!(o, "  version:         {}", h.version);
    let _ = writeln!(o, "  header_len:      {}", h.header_len);
    let _ = writeln!(o, "  kind:            {} ({})", h.kind, h.kind_name());
    let _ = writeln!(o, "  rank:            {}", h.rank);
    let _ = writeln!(o, "  pointer_width:   {}", h.pointer_width);
    let alive = creator::liveness(h.creator_pid, h.creator_start_time);
    let _ = writeln!(o, "  creator_pid:     {} ({})", h.creator_pid, alive.word());
    let _ = writeln!(o, "  type_name_len:   {}", h.type_name_len);
    let _ = writeln!(
        o,
        "  creator_start:   {} (clock ticks after boot)",
        h.creator_start_time
    );
    let _ = writeln!(
        o,
        "  creation_time:   {} ({} ns since the epoch)",
        header::utc(h.creation_time_ns),
        h.creation_time_ns
    );
    let _ = writeln!(o, "  elem_size:       {}", h.elem_size);
    let _ = writeln!(o, "  elem_align:      {}", h.elem_align);
    let _ = writeln!(o, "  fingerprint:     {:#018x}", h.fingerprint);
    let _ = writeln!(o, "  schema_offset:   {}", h.schema_offset);
    let _ = writeln!(o, "  schema_len:      {}", h.schema_len);
    let _ = writeln!(o, "  control_offset:  {}", h.control_offset);
    let _ = writeln!(o, "  control_len:     {}", h.control_len);
    let _ = writeln!(o, "  payload_offset:  {}", h.payload_offset);
    let _ = writeln!(o, "  payload_len:     {}", h.payload_len);
    let _ = writeln!(o, "  ring_capacity:   {}", h.ring_capacity);
    let _ = writeln!(o, "  dims:            {}", dims_text(h.used_dims()));
    let _ = writeln!(
        o,
        "  type_name:       {:?}",
        String::from_utf8_lossy(h.type_name_bytes())
    );
    let _ = writeln!(o, "  checksum:        {:#018x}", h.checksum);
    if let Verdict::Valid(info) = &snap.verdict {
        if info.kind != ipc_collections::Kind::Value {
            if let Some(n) = ipc_collections::format::element_count(&info.dims) {
                let _ = writeln!(o, "elements:        {n}");
            }
        }
    }
    o
}

fn schema(name: &str, as_tree: bool) -> Result<u8, Failure> {
    let snap = snapshot(name)?;
    let info = valid(&snap)?;
    if as_tree {
        let t = tree::render(&info.schema).map_err(|why| {
            Failure::new(
                exit::CORRUPTED,
                format!("{name}: schema does not parse: {why}"),
            )
        })?;
        emit(&t);
    } else {
        emit(&format!("{}\n", info.schema));
    }
    Ok(exit::OK)
}

fn diff(a_name: &str, b_name: &str) -> Result<u8, Failure> {
    let a_snap = snapshot(a_name)?;
    let b_snap = snapshot(b_name)?;
    let (a, b) = (valid(&a_snap)?, valid(&b_snap)?);
    let mut diffs = Vec::new();
    let mut field = |what: &str, x: String, y: String| {
        if x != y {
            diffs.push(format!("{what}: {x} -> {y}"));
        }
    };
    field("kind", a.kind.to_string(), b.kind.to_string());
    field("type name", a.type_name.clone(), b.type_name.clone());
    field(
        "dims",
        dims_text(&a.dims.iter().map(|&d| d as u64).collect::<Vec<_>>()),
        dims_text(&b.dims.iter().map(|&d| d as u64).collect::<Vec<_>>()),
    );
    field(
        "pointer width",
        a.pointer_width.to_string(),
        b.pointer_width.to_string(),
    );
    field(
        "size/align",
        format!("{}/{}", a.elem_size, a.elem_align),
        format!("{}/{}", b.elem_size, b.elem_align),
    );
    field(
        "control block",
        format!("{} bytes", a.control.len()),
        format!("{} bytes", b.control.len()),
    );
    let schema_diffs = diff_schemas(&a.schema, &b.schema);
    diffs.extend(schema_diffs.iter().map(ToString::to_string));
    if a.fingerprint != b.fingerprint && schema_diffs.is_empty() {
        diffs.push(format!(
            "fingerprint: {:#018x} -> {:#018x}",
            a.fingerprint, b.fingerprint
        ));
    }
    let mut out = format!(
        "--- {a_name} ({} {})\n+++ {b_name} ({} {})\n",
        a.type_name, a.kind, b.type_name, b.kind
    );
    if diffs.is_empty() {
        let _ = writeln!(out, "same layout: {}", a.schema);
        emit(&out);
        return Ok(exit::OK);
    }
    for d in &diffs {
        let _ = writeln!(out, "{d}");
    }
    emit(&out);
    Ok(exit::DIFFERENT)
}

fn dump(name: &str, max: usize) -> Result<u8, Failure> {
    let (file, snap) = open_snapshot(name)?;
    let info = valid(&snap)?;
    let corrupted = |why: String| Failure::new(exit::CORRUPTED, format!("{name}: {why}"));
    if snap.state != Some(2) {
        return Err(Failure::new(
            exit::NOT_READY,
            format!(
                "{name}: not ready (state {}): its payload is not initialised",
                snapshot::state_name(snap.state.unwrap_or(0))
            ),
        ));
    }
    let count = match info.kind {
        ipc_collections::Kind::Value => 1,
        ipc_collections::Kind::Array => {
            ipc_collections::format::element_count(&info.dims).unwrap_or(usize::MAX)
        }
        _ => {
            return Err(Failure::new(
                exit::UNREADABLE,
                format!("{name}: dump reads values and arrays, not a {}", info.kind),
            ))
        }
    };
    let (leaves, size) = tree::leaves(&info.schema, max.max(1))
        .map_err(|why| corrupted(format!("schema does not parse: {why}")))?;
    if size != info.elem_size as u64 {
        return Err(corrupted(format!(
            "the schema's size {size} differs from elem_size {}",
            info.elem_size
        )));
    }
    let mut out = String::new();
    let mut shown = 0usize;
    // Every element has at least one leaf to print, so this loop ends after `max` elements
    // at most (an element type without scalars, e.g. only locks, prints nothing).
    let elements = if leaves.is_empty() { 0 } else { count };
    'elements: for k in 0..elements {
        let at = (k as u64)
            .checked_mul(size)
            .and_then(|o| o.checked_add(info.payload.start as u64))
            .ok_or_else(|| corrupted("payload offset overflows".into()))?;
        let index = if info.kind == ipc_collections::Kind::Array {
            let mut rest = k;
            let mut idx = vec![0; info.dims.len()];
            for (i, &d) in info.dims.iter().enumerate().rev() {
                idx[i] = rest % d.max(1);
                rest /= d.max(1);
            }
            let parts: Vec<String> = idx.iter().map(usize::to_string).collect();
            format!("[{}]", parts.join(","))
        } else {
            String::new()
        };
        for leaf in &leaves {
            if shown == max {
                break 'elements;
            }
            let path = match (index.is_empty(), leaf.path.is_empty()) {
                (true, true) => "value".to_owned(),
                (true, false) => leaf.path.clone(),
                (false, true) => index.clone(),
                (false, false) => format!("{index}.{}", leaf.path),
            };
            let inside = leaf
                .offset
                .checked_add(leaf.size)
                .is_some_and(|end| end <= size);
            if !inside {
                return Err(corrupted(format!("field {path} lies outside its element")));
            }
            // Scalars are at most 16 bytes; a bigger one is named, not read.
            let text = match usize::try_from(leaf.size).ok().filter(|&n| n <= 16) {
                Some(n) => {
                    let bytes = snapshot::read_exact_at(&file, name, at + leaf.offset, n)?;
                    tree::scalar(&leaf.ty, &bytes)
                }
                None => None,
            };
            let text = text.unwrap_or_else(|| format!("({}, {} bytes)", leaf.ty, leaf.size));
            let _ = writeln!(out, "{path} = {text}");
            shown += 1;
        }
    }
    // With fewer leaves than the budget, the list of leaves is complete and the rest can
    // be counted; otherwise it was cut at `max`.
    let total = (leaves.len() < max).then(|| elements.saturating_mul(leaves.len()));
    match total {
        Some(t) if t > shown => {
            let _ = writeln!(out, "... {} more (--max {max})", t - shown);
        }
        None if shown == max => {
            let _ = writeln!(out, "... stopped at --max {max}");
        }
        _ => {}
    }
    emit(&out);
    Ok(exit::OK)
}

fn unlink(name: &str, force: bool) -> Result<u8, Failure> {
    if !force {
        let (file, _) = snapshot::open_read_only(name)?;
        if !snapshot::has_magic(&file, name)? {
            return Err(Failure::new(
                exit::NOT_A_SEGMENT,
                format!("{name}: not a segment (no magic); use --force to remove it anyway"),
            ));
        }
    }
    ipc_collections::unlink(name).map_err(|e| Failure::new(exit::UNREADABLE, e.to_string()))?;
    emit(&format!("unlinked {name}\n"));
    Ok(exit::OK)
}
