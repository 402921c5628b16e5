//! The header's fields decoded as stored, without any check (so that `show` can print what
//! a corrupted header holds next to the reason it is refused). Offsets are those of
//! `FORMAT.md`.

use ipc_collections::format::HEADER_LEN;

/// Every field of the fixed header, in native byte order, unchecked.
#[derive(Debug, Clone)]
pub struct RawHeader {
    pub magic: [u8; 8],
    pub state: u32,
    pub byte_order: u32,
    pub version: u16,
    pub header_len: u16,
    pub kind: u16,
    pub rank: u8,
    pub pointer_width: u8,
    pub creator_pid: i32,
    pub type_name_len: u32,
    pub creator_start_time: u64,
    pub creation_time_ns: u64,
    pub elem_size: u64,
    pub elem_align: u64,
    pub fingerprint: u64,
    pub schema_offset: u64,
    pub schema_len: u64,
    pub control_offset: u64,
    pub control_len: u64,
    pub payload_offset: u64,
    pub payload_len: u64,
    pub ring_capacity: u64,
    pub dims: [u64; 8],
    pub type_name: [u8; 56],
    pub checksum: u64,
}

fn bytes<const N: usize>(h: &[u8; HEADER_LEN], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&h[at..at + N]);
    a
}

fn u16_at(h: &[u8; HEADER_LEN], at: usize) -> u16 {
    u16::from_ne_bytes(bytes(h, at))
}

fn u32_at(h: &[u8; HEADER_LEN], at: usize) -> u32 {
    u32::from_ne_bytes(bytes(h, at))
}

fn u64_at(h: &[u8; HEADER_LEN], at: usize) -> u64 {
    u64::from_ne_bytes(bytes(h, at))
}

impl RawHeader {
    /// Decodes the 256 header bytes.
    pub fn decode(h: &[u8; HEADER_LEN]) -> RawHeader {
        let mut dims = [0u64; 8];
        for (i, d) in dims.iter_mut().enumerate() {
            *d = u64_at(h, 128 + 8 * i);
        }
        RawHeader {
            magic: bytes(h, 0),
            state: u32_at(h, 8),
            byte_order: u32_at(h, 12),
            version: u16_at(h, 16),
            header_len: u16_at(h, 18),
            kind: u16_at(h, 20),
            rank: h[22],
            pointer_width: h[23],
            creator_pid: i32::from_ne_bytes(bytes(h, 24)),
            type_name_len: u32_at(h, 28),
            creator_start_time: u64_at(h, 32),
            creation_time_ns: u64_at(h, 40),
            elem_size: u64_at(h, 48),
            elem_align: u64_at(h, 56),
            fingerprint: u64_at(h, 64),
            schema_offset: u64_at(h, 72),
            schema_len: u64_at(h, 80),
            control_offset: u64_at(h, 88),
            control_len: u64_at(h, 96),
            payload_offset: u64_at(h, 104),
            payload_len: u64_at(h, 112),
            ring_capacity: u64_at(h, 120),
            dims,
            type_name: bytes(h, 192),
            checksum: u64_at(h, 248),
        }
    }

    /// The type name as far as it is readable: the first `type_name_len` bytes (at most 56),
    /// with anything that is not UTF-8 replaced.
    pub fn type_name_lossy(&self) -> String {
        let n = (self.type_name_len as usize).min(self.type_name.len());
        String::from_utf8_lossy(&self.type_name[..n]).into_owned()
    }

    /// The dims the rank selects (at most 8).
    pub fn used_dims(&self) -> &[u64] {
        &self.dims[..usize::from(self.rank).min(self.dims.len())]
    }

    /// The kind's name, or the number if it is none of the known kinds.
    pub fn kind_name(&self) -> String {
        match self.kind {
            1 => "value".into(),
            2 => "array".into(),
            3 => "ring".into(),
            other => format!("unknown ({other})"),
        }
    }
}

/// Formats nanoseconds since the Unix epoch as an ISO 8601 UTC time
/// (`2026-11-22T10:54:49.123456789Z`).
pub fn utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`,
/// for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            utc(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(
            utc(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        // The largest u64 does not overflow.
        assert!(utc(u64::MAX).starts_with("2554-07-21T23:34:33"));
    }
}
