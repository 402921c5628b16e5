//! A minimal layout-checked segment for the `layout_*` examples: a header with the value's
//! fingerprint and schema, then the value. (The full segment format, with its init protocol
//! and checksums, is `ipc-collections`' job; this shows only the layout check.)
//!
//! Header (native byte order): `magic: u64` (`b"IPCLAYT1"`), `fingerprint: u64`,
//! `schema_len: u64`, `payload_offset: u64`, then the schema's bytes; the value at
//! `payload_offset` (4096).

// Each example uses only its half (publish or open).
#![allow(dead_code)]

use std::mem::size_of;

use ipc::core::layout::{diff_schemas, SchemaDiff};
use ipc::core::shm::Shm;
use ipc::core::SharedLayout;

const MAGIC: u64 = u64::from_ne_bytes(*b"IPCLAYT1");
const HEADER: usize = 32;
const PAYLOAD: usize = 4096;

/// Creates `name` holding a `T` (zero-filled, `init_in_place`, then `init`), and leaves it
/// in place for other processes (the caller removes it).
pub fn publish<T: SharedLayout>(name: &str, init: impl FnOnce(&mut T)) -> ipc::Result<()> {
    let schema = T::LAYOUT.schema();
    assert!(
        HEADER + schema.len() <= PAYLOAD,
        "schema too long for this demo"
    );
    let mut shm = Shm::create(name, PAYLOAD + size_of::<T>().max(1))?;
    shm.set_unlink_on_drop(false);
    let base = shm.as_ptr();
    let words = [
        MAGIC,
        T::LAYOUT.fingerprint(),
        schema.len() as u64,
        PAYLOAD as u64,
    ];
    // SAFETY: the mapping is at least PAYLOAD + size_of::<T>() bytes, page-aligned (so
    // aligned for u64 and for T, whose alignment is at most 4096 here), freshly created and
    // not yet seen by anyone else: writing the header, the schema (HEADER + len <= PAYLOAD,
    // checked above) and initialising T at PAYLOAD stays in bounds and races with nobody.
    // The mapping is zero-filled, as init_in_place requires, and every bit pattern of T is
    // valid once it has run, so the `&mut T` is to a valid value.
    unsafe {
        base.cast::<[u64; 4]>().write(words);
        base.add(HEADER)
            .copy_from_nonoverlapping(schema.as_ptr(), schema.len());
        let value = base.add(PAYLOAD).cast::<T>();
        T::init_in_place(value)?;
        init(&mut *value);
    }
    Ok(())
}

/// Why [`open`] refused.
pub enum OpenError {
    /// Not a segment of this demo, or too short.
    Corrupt(&'static str),
    /// The segment holds another layout: what differs.
    Mismatch(Vec<SchemaDiff>),
    /// The OS said no.
    Os(ipc::Error),
}

/// An opened segment, holding a `T` that matches this build's layout.
pub struct Opened<T> {
    shm: Shm,
    _t: std::marker::PhantomData<T>,
}

impl<T: SharedLayout> Opened<T> {
    /// The shared value (its writer has finished: see the examples).
    pub fn get(&self) -> &T {
        // SAFETY: `open` checked that the mapping holds PAYLOAD + size_of::<T>() bytes and
        // that the fingerprint matches T's, so the bytes at PAYLOAD were written as a T of
        // this exact layout (page-aligned base + 4096 is aligned for T); every bit pattern
        // of T is valid anyway (SharedLayout), and the reference borrows `self`, which keeps
        // the mapping alive.
        unsafe { &*self.shm.as_ptr().add(PAYLOAD).cast::<T>() }
    }
}

/// Opens `name` and checks that it holds a `T` of exactly this build's layout.
pub fn open<T: SharedLayout>(name: &str) -> Result<Opened<T>, OpenError> {
    let shm = Shm::open(name).map_err(OpenError::Os)?;
    if shm.len() < HEADER {
        return Err(OpenError::Corrupt("shorter than the header"));
    }
    // SAFETY: the mapping is page-aligned and at least HEADER (32) bytes long.
    let [magic, fp, schema_len, payload] = unsafe { shm.as_ptr().cast::<[u64; 4]>().read() };
    if magic != MAGIC {
        return Err(OpenError::Corrupt("bad magic"));
    }
    let schema_end = usize::try_from(schema_len)
        .ok()
        .and_then(|l| l.checked_add(HEADER))
        .filter(|&end| end <= PAYLOAD && payload == PAYLOAD as u64 && end <= shm.len())
        .ok_or(OpenError::Corrupt("bad schema length or payload offset"))?;
    if fp != T::LAYOUT.fingerprint() {
        // SAFETY: HEADER..schema_end lies inside the mapping (checked above); u8 is valid
        // for every bit pattern and the writer has finished.
        let found =
            unsafe { std::slice::from_raw_parts(shm.as_ptr().add(HEADER), schema_end - HEADER) };
        let found = String::from_utf8_lossy(found);
        return Err(OpenError::Mismatch(diff_schemas(
            &T::LAYOUT.schema(),
            &found,
        )));
    }
    if shm.len() < PAYLOAD + size_of::<T>() {
        return Err(OpenError::Corrupt("too short for the value"));
    }
    Ok(Opened {
        shm,
        _t: std::marker::PhantomData,
    })
}
