//! The typed segments of ipc-collections: `inspect`, `schema`, `diff`, `dump`, and the
//! segment columns of `ls`.
//!
//! Segments are read with `shm_open(O_RDONLY)` and `pread` (see [`crate::snapshot`]), never
//! mapped and never written: a truncated object cannot `SIGBUS` the tool.

use std::fmt::Write as _;

use ipc_collections::creator;
use ipc_collections::format::Header;
use ipc_collections::ring::RingStatus;
use ipc_collections::{Kind, SegmentInfo};
use ipc_core::layout::diff_schemas;
use serde_json::json;

use crate::out::{emit, emit_json, esc, JSON_VERSION};
use crate::snapshot::{self, Snapshot, Verdict};
use crate::{header, procfs, ring, tree, Failure};

/// Opens and validates `name`.
pub fn snapshot(name: &str) -> Result<Snapshot, Failure> {
    Ok(open_snapshot(name)?.1)
}

/// Opens and validates `name`, keeping the file open for reading the payload.
pub fn open_snapshot(name: &str) -> Result<(std::fs::File, Snapshot), Failure> {
    let (file, size) = snapshot::open_read_only(name)?;
    let snap = snapshot::take(&file, name, size)?;
    Ok((file, snap))
}

/// The validated header of a segment (ready or not), or the failure that explains why
/// there is none.
pub fn valid(snap: &Snapshot) -> Result<&SegmentInfo, Failure> {
    match &snap.verdict {
        Verdict::NotASegment(why) => {
            Err(Failure::new(format!("{}: not a segment: {why}", snap.name)))
        }
        Verdict::Corrupted(why) => Err(Failure::new(format!(
            "{}: corrupted segment: {why}",
            snap.name
        ))),
        Verdict::Valid(info) => Ok(info),
    }
}

/// Why a segment with a valid header is not ready, or `None` if it is.
pub fn not_ready_reason(snap: &Snapshot, info: &SegmentInfo) -> Option<String> {
    match snap.state.unwrap_or(0) {
        2 => None,
        0 => Some("the creator has not published the header yet (state unset)".to_owned()),
        1 => {
            let l = creator::liveness(info.creator_pid, info.creator_start_time);
            Some(if l == creator::Liveness::Alive {
                "the creator is still initialising it".to_owned()
            } else {
                format!(
                    "the creator (pid {}) died during initialisation; remove it with \
                     `ipc rm {}` or `ipc gc`",
                    info.creator_pid, snap.name
                )
            })
        }
        _ => Some("the creator's initialisation failed".to_owned()),
    }
}

fn dims_text(dims: &[u64]) -> String {
    let parts: Vec<String> = dims.iter().map(u64::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// A liveness as a JSON word: `alive`, `dead`, `pid-reused`.
pub fn liveness_json(l: creator::Liveness) -> &'static str {
    match l {
        creator::Liveness::Alive => "alive",
        creator::Liveness::Dead => "dead",
        creator::Liveness::PidReused => "pid-reused",
    }
}

/// The segment fields of an `ls` row: the table's detail text and the JSON fields. `ring`
/// is the decoded control block of a ready ring ([`ring::status_of`]).
pub fn ls_fields(
    snap: &Snapshot,
    ring: Option<&RingStatus>,
) -> (String, serde_json::Map<String, serde_json::Value>) {
    let mut m = serde_json::Map::new();
    let Some(raw) = snap.header.map(Header::from) else {
        let why = match &snap.verdict {
            Verdict::Corrupted(why) | Verdict::NotASegment(why) => why.clone(),
            Verdict::Valid(_) => String::new(),
        };
        m.insert("state".into(), "corrupted".into());
        m.insert("problem".into(), why.clone().into());
        return (format!("corrupted: {why}"), m);
    };
    let (state, problem) = match &snap.verdict {
        Verdict::Valid(_) => (snapshot::state_name(raw.state), None),
        Verdict::Corrupted(why) | Verdict::NotASegment(why) => {
            ("corrupted".to_owned(), Some(why.clone()))
        }
    };
    let liveness = creator::liveness(raw.creator_pid, raw.creator_start_time);
    let type_name = String::from_utf8_lossy(raw.type_name_bytes()).into_owned();
    let dims: Vec<String> = raw.used_dims().iter().map(u64::to_string).collect();
    let shape = match Kind::from_code(raw.kind) {
        Some(Kind::Value) => String::new(),
        Some(Kind::Ring) => format!(" capacity {}", raw.ring_capacity),
        _ => format!(" [{}]", dims.join("x")),
    };
    let mut detail = format!(
        "{} {type_name}{shape} ({} B each), {state}, creator {} ({})",
        raw.kind_name(),
        raw.elem_size,
        raw.creator_pid,
        liveness.word()
    );
    if let Some(why) = &problem {
        let _ = write!(detail, ": {why}");
        m.insert("problem".into(), why.clone().into());
    }
    if Kind::from_code(raw.kind) == Some(Kind::Ring) {
        if let Some(st) = ring {
            let _ = write!(detail, "; {}", ring::ls_text(st));
        }
        m.insert("ring".into(), ring.map(ring::status_json).into());
    }
    m.insert("segment_kind".into(), raw.kind_name().into());
    m.insert("type_name".into(), type_name.into());
    m.insert("elem_size".into(), raw.elem_size.into());
    m.insert("dims".into(), raw.used_dims().into());
    m.insert("ring_capacity".into(), raw.ring_capacity.into());
    m.insert("state".into(), state.into());
    m.insert("creator_pid".into(), raw.creator_pid.into());
    m.insert("creator".into(), liveness_json(liveness).into());
    (detail, m)
}

/// `ipc inspect NAME` of a segment.
pub fn inspect(name: &str, as_json: bool) -> Result<(), Failure> {
    let (file, snap) = open_snapshot(name)?;
    let maps = procfs::mappers(&format!("/dev/shm{name}"));
    let ring = ring::status_of(&file, &snap);
    if as_json {
        return inspect_json(&snap, maps.as_ref(), ring);
    }
    let mut out = String::new();
    let _ = writeln!(out, "name:            {}", esc(&snap.name));
    let _ = writeln!(out, "object size:     {} bytes", snap.size);
    if let Some(m) = &maps {
        let pids: Vec<String> = m.pids.iter().map(i32::to_string).collect();
        let _ = write!(
            out,
            "mapped by:       {}",
            if pids.is_empty() {
                "no process".to_owned()
            } else {
                format!("pid {}", pids.join(", "))
            }
        );
        if m.unreadable > 0 {
            let n = m.unreadable;
            let _ = write!(
                out,
                " ({n} process{} not readable)",
                if n == 1 { "" } else { "es" }
            );
        }
        out.push('\n');
    }
    if let Some(h) = &snap.header {
        out.push_str(&header_text(&Header::from(*h), &snap));
        let _ = writeln!(
            out,
            "schema:          {}",
            String::from_utf8_lossy(&snap.schema)
        );
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
                    let _ = writeln!(out, "layout:          (schema not drawable: {})", esc(&why));
                }
            }
            match not_ready_reason(&snap, info) {
                None => {
                    let _ = writeln!(out, "validation:      ok");
                    match ring {
                        Ok(Some(st)) => {
                            out.push_str("ring:\n");
                            out.push_str(&ring::status_text(&st, "  "));
                            Ok(())
                        }
                        Ok(None) => Ok(()),
                        Err(f) => Err(f),
                    }
                }
                Some(why) => {
                    let _ = writeln!(
                        out,
                        "validation:      header ok, segment not ready: {}",
                        esc(&why)
                    );
                    Err(Failure::new(format!("{}: not ready: {why}", snap.name)))
                }
            }
        }
        Verdict::Corrupted(why) => {
            let _ = writeln!(out, "validation:      CORRUPTED: {}", esc(why));
            valid(&snap).map(|_| ())
        }
        Verdict::NotASegment(why) => {
            let _ = writeln!(out, "validation:      not a segment: {}", esc(why));
            valid(&snap).map(|_| ())
        }
    };
    emit(&out);
    verdict
}

fn inspect_json(
    snap: &Snapshot,
    maps: Option<&procfs::Mappers>,
    ring: Result<Option<RingStatus>, Failure>,
) -> Result<(), Failure> {
    let mut v = json!({
        "version": JSON_VERSION,
        "kind": "segment",
        "name": snap.name,
        "size": snap.size,
    });
    if let Some(m) = maps {
        v["mapped_by"] = json!({ "pids": m.pids, "unreadable": m.unreadable });
    }
    if let Some(h) = snap.header.map(Header::from) {
        let liveness = creator::liveness(h.creator_pid, h.creator_start_time);
        v["header"] = json!({
            "magic": String::from_utf8_lossy(&h.magic),
            "state": h.state,
            "state_name": snapshot::state_name(h.state),
            "byte_order": h.byte_order,
            "version": h.version,
            "header_len": h.header_len,
            "kind": h.kind,
            "kind_name": h.kind_name(),
            "rank": h.rank,
            "pointer_width": h.pointer_width,
            "creator_pid": h.creator_pid,
            "creator_start_time": h.creator_start_time,
            "creation_time_ns": h.creation_time_ns,
            "creation_time": header::utc(h.creation_time_ns),
            "elem_size": h.elem_size,
            "elem_align": h.elem_align,
            "fingerprint": format!("{:#018x}", h.fingerprint),
            "schema_offset": h.schema_offset,
            "schema_len": h.schema_len,
            "control_offset": h.control_offset,
            "control_len": h.control_len,
            "payload_offset": h.payload_offset,
            "payload_len": h.payload_len,
            "ring_capacity": h.ring_capacity,
            "dims": h.used_dims(),
            "type_name": String::from_utf8_lossy(h.type_name_bytes()),
            "checksum": format!("{:#018x}", h.checksum),
        });
        v["creator"] = liveness_json(liveness).into();
        v["schema"] = String::from_utf8_lossy(&snap.schema).into();
    }
    let result = match &snap.verdict {
        Verdict::Valid(info) => {
            if let Ok(t) = tree::json(&info.schema) {
                v["layout"] = t;
            }
            if let Some(n) = ipc_collections::format::element_count(&info.dims) {
                if info.kind != Kind::Value {
                    v["elements"] = n.into();
                }
            }
            match not_ready_reason(snap, info) {
                None => {
                    v["validation"] = "ok".into();
                    match ring {
                        Ok(Some(st)) => {
                            v["ring"] = ring::status_json(&st);
                            Ok(())
                        }
                        Ok(None) => Ok(()),
                        Err(f) => Err(f),
                    }
                }
                Some(why) => {
                    v["validation"] = "not-ready".into();
                    v["problem"] = why.clone().into();
                    Err(Failure::new(format!("{}: not ready: {why}", snap.name)))
                }
            }
        }
        Verdict::Corrupted(why) => {
            v["validation"] = "corrupted".into();
            v["problem"] = why.clone().into();
            valid(snap).map(|_| ())
        }
        Verdict::NotASegment(why) => {
            v["validation"] = "not-a-segment".into();
            v["problem"] = why.clone().into();
            valid(snap).map(|_| ())
        }
    };
    emit_json(&v);
    result
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
        if info.kind != Kind::Value {
            if let Some(n) = ipc_collections::format::element_count(&info.dims) {
                let _ = writeln!(o, "elements:        {n}");
            }
        }
    }
    o
}

/// `ipc schema NAME [--tree]`.
pub fn schema(name: &str, as_tree: bool) -> Result<(), Failure> {
    let snap = snapshot(name)?;
    let info = valid(&snap)?;
    if as_tree {
        let t = tree::render(&info.schema)
            .map_err(|why| Failure::new(format!("{name}: schema does not parse: {why}")))?;
        emit(&t);
    } else {
        emit(&format!("{}\n", esc(&info.schema)));
    }
    Ok(())
}

/// `ipc diff A B`: prints the differences; they are a failure (exit 1) naming both.
pub fn diff(a_name: &str, b_name: &str) -> Result<(), Failure> {
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
        "--- {} ({} {})\n+++ {} ({} {})\n",
        esc(a_name),
        esc(&a.type_name),
        a.kind,
        esc(b_name),
        esc(&b.type_name),
        b.kind
    );
    if diffs.is_empty() {
        let _ = writeln!(out, "same layout: {}", esc(&a.schema));
        emit(&out);
        return Ok(());
    }
    for d in &diffs {
        let _ = writeln!(out, "{}", esc(d));
    }
    emit(&out);
    Err(Failure::new(format!(
        "{a_name} and {b_name} differ ({} difference{})",
        diffs.len(),
        if diffs.len() == 1 { "" } else { "s" }
    )))
}

/// `ipc dump NAME [--max N]`: the values of a ready value or array segment.
pub fn dump(name: &str, max: usize) -> Result<(), Failure> {
    let (file, snap) = open_snapshot(name)?;
    let info = valid(&snap)?;
    let corrupted = |why: String| Failure::new(format!("{name}: corrupted segment: {why}"));
    if snap.state != Some(2) {
        return Err(Failure::new(format!(
            "{name}: not ready (state {}): its payload is not initialised",
            snapshot::state_name(snap.state.unwrap_or(0))
        )));
    }
    let count = match info.kind {
        Kind::Value => 1,
        Kind::Array => ipc_collections::format::element_count(&info.dims).unwrap_or(usize::MAX),
        _ => {
            return Err(Failure::new(format!(
                "{name}: dump reads values and arrays, not a {}",
                info.kind
            )))
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
        let index = if info.kind == Kind::Array {
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
            // FORMAT.md, "The schema string": readers do not check that a field lies inside
            // its struct; each access is bounded by the payload instead, and a field outside
            // it is skipped (named, not read).
            let start = at.checked_add(leaf.offset);
            let inside = start
                .and_then(|s| s.checked_add(leaf.size))
                .is_some_and(|end| end <= info.payload.end as u64);
            // Scalars are at most 16 bytes; a bigger one is named, not read.
            let text = match (start, usize::try_from(leaf.size).ok().filter(|&n| n <= 16)) {
                _ if !inside => Some(format!(
                    "({}, {} bytes: outside the payload, skipped)",
                    leaf.ty, leaf.size
                )),
                (Some(start), Some(n)) => {
                    let bytes = snapshot::read_exact_at(&file, name, start, n)?;
                    tree::scalar(&leaf.ty, &bytes)
                }
                _ => None,
            };
            let text = text.unwrap_or_else(|| format!("({}, {} bytes)", leaf.ty, leaf.size));
            let _ = writeln!(out, "{} = {}", esc(&path), esc(&text));
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
    Ok(())
}
