//! Making and using POSIX objects: `sem`, `mq`, `shm`.
//!
//! Everything the tool creates persists (`unlink_on_drop(false)`): the tool exits at once,
//! and an object it removed again would be useless. `ipc rm` removes it.

use std::time::Duration;

use ipc_core::mq::{Access, MessageQueue};
use ipc_core::sem::NamedSemaphore;
use ipc_core::shm::Shm;
use serde_json::json;

use crate::out::{emit, emit_json, emit_raw, esc, escape_controls, JSON_VERSION};
use crate::{snapshot, Failure};

/// `ipc sem create NAME [--value N] [--mode M]`.
pub fn sem_create(name: &str, value: u32, mode: u32) -> Result<(), Failure> {
    NamedSemaphore::options()
        .value(value)
        .mode(mode)
        .unlink_on_drop(false)
        .create(name)?;
    emit(&format!("created sem {} (value {value})\n", esc(name)));
    Ok(())
}

/// `ipc sem post NAME`.
pub fn sem_post(name: &str) -> Result<(), Failure> {
    NamedSemaphore::open(name)?
        .post()
        .map_err(|e| e.or_name(name))?;
    Ok(())
}

/// `ipc sem wait NAME [--timeout S]`: blocks until the value is above zero and takes one.
pub fn sem_wait(name: &str, timeout: Option<Duration>) -> Result<(), Failure> {
    let s = NamedSemaphore::open(name)?;
    match timeout {
        Some(t) => s.wait_timeout(t),
        None => s.wait(),
    }
    .map_err(|e| e.or_name(name))?;
    Ok(())
}

/// `ipc sem value NAME`.
pub fn sem_value(name: &str) -> Result<(), Failure> {
    let v = NamedSemaphore::open(name)?.value();
    emit(&format!("{v}\n"));
    Ok(())
}

/// `ipc mq create NAME [--capacity N] [--message-size N] [--mode M]`; the system's
/// defaults where not given.
pub fn mq_create(
    name: &str,
    capacity: Option<usize>,
    message_size: Option<usize>,
    mode: u32,
) -> Result<(), Failure> {
    let mut o = MessageQueue::options().mode(mode).unlink_on_drop(false);
    if let Some(c) = capacity {
        o = o.capacity(c);
    }
    if let Some(s) = message_size {
        o = o.message_size(s);
    }
    let q = o.create(name)?;
    emit(&format!(
        "created mq {} ({} messages of up to {} B)\n",
        esc(name),
        q.capacity(),
        q.message_size()
    ));
    Ok(())
}

/// `ipc mq send NAME MESSAGE [--priority P] [--timeout S]`.
pub fn mq_send(
    name: &str,
    message: &str,
    priority: u32,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let q = MessageQueue::options()
        .access(Access::WriteOnly)
        .open(name)?;
    match timeout {
        Some(t) => q.send_timeout(message.as_bytes(), priority, t),
        None => q.send(message.as_bytes(), priority),
    }
    .map_err(|e| e.or_name(name))?;
    Ok(())
}

/// `ipc mq recv NAME [--timeout S] [--json] [--raw]`: one message, the highest priority
/// first. Printed with control characters escaped and a newline, or exactly (`--raw`), or
/// as JSON with its priority.
pub fn mq_recv(
    name: &str,
    timeout: Option<Duration>,
    as_json: bool,
    raw: bool,
) -> Result<(), Failure> {
    let q = MessageQueue::options()
        .access(Access::ReadOnly)
        .open(name)?;
    let mut buf = vec![0u8; q.message_size()];
    let (n, prio) = match timeout {
        Some(t) => q.receive_timeout(&mut buf, t),
        None => q.receive(&mut buf),
    }
    .map_err(|e| e.or_name(name))?;
    let msg = &buf[..n];
    if as_json {
        emit_json(&json!({
            "version": JSON_VERSION,
            "name": name,
            "message": String::from_utf8_lossy(msg),
            "bytes": n,
            "priority": prio,
        }));
    } else if raw {
        emit_raw(msg);
    } else {
        emit(&format!(
            "{}\n",
            escape_controls(&String::from_utf8_lossy(msg), false)
        ));
    }
    Ok(())
}

/// `ipc mq attr NAME [--json]`.
pub fn mq_attr(name: &str, as_json: bool) -> Result<(), Failure> {
    let a = MessageQueue::options()
        .access(Access::ReadOnly)
        .open(name)?
        .attributes()
        .map_err(|e| e.or_name(name))?;
    if as_json {
        emit_json(&json!({
            "version": JSON_VERSION,
            "name": name,
            "capacity": a.capacity,
            "message_size": a.message_size,
            "depth": a.current,
        }));
    } else {
        emit(&format!(
            "capacity:      {}\nmessage_size:  {}\ndepth:         {}\n",
            a.capacity, a.message_size, a.current
        ));
    }
    Ok(())
}

/// `ipc shm create NAME --size N [--mode M]`: a zero-filled object.
pub fn shm_create(name: &str, size: usize, mode: u32) -> Result<(), Failure> {
    Shm::options()
        .size(size)
        .mode(mode)
        .unlink_on_drop(false)
        .create(name)?;
    emit(&format!("created shm {} ({size} bytes)\n", esc(name)));
    Ok(())
}

/// `ipc shm cat NAME`: the object's bytes, read with `pread` (never mapped, so an object
/// truncated meanwhile just ends early).
pub fn shm_cat(name: &str) -> Result<(), Failure> {
    let (file, size) = snapshot::open_read_only(name)?;
    const CHUNK: usize = 1 << 16;
    let mut at = 0u64;
    while at < size {
        let len = usize::try_from(size - at).map_or(CHUNK, |r| r.min(CHUNK));
        let bytes = snapshot::read_at(&file, name, at, len)?;
        if bytes.is_empty() {
            break;
        }
        emit_raw(&bytes);
        at += bytes.len() as u64;
    }
    Ok(())
}
