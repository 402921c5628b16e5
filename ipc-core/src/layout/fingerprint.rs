//! The `const fn` fingerprint of a [`TypeLayout`]: FNV-1a 64 over a tagged, length-prefixed
//! walk of the tree, finished with SplitMix64 (see the module docs of `layout`).

use super::{Shape, TypeLayout};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Version of the hashed serialisation: bump it if the walk below changes.
const VERSION: u8 = 1;

pub(super) const TAG_SCALAR: u8 = 1;
pub(super) const TAG_OPAQUE: u8 = 2;
pub(super) const TAG_ARRAY: u8 = 3;
pub(super) const TAG_STRUCT: u8 = 4;
pub(super) const TAG_FIELD: u8 = 5;

pub(super) const fn byte(h: u64, b: u8) -> u64 {
    (h ^ b as u64).wrapping_mul(FNV_PRIME)
}

/// Hashes `n` as 8 little-endian bytes, whatever the target, so that the numbers of a 32-bit
/// and a 64-bit build are hashed alike (the width itself is hashed separately).
pub(super) const fn num(mut h: u64, n: usize) -> u64 {
    let n = n as u64;
    let mut i = 0;
    while i < 8 {
        h = byte(h, (n >> (8 * i)) as u8);
        i += 1;
    }
    h
}

/// Hashes a string as its length then its bytes, so that `("ab", "c")` and `("a", "bc")`
/// differ.
pub(super) const fn string(mut h: u64, s: &str) -> u64 {
    let bytes = s.as_bytes();
    h = num(h, bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        h = byte(h, bytes[i]);
        i += 1;
    }
    h
}

const fn node(mut h: u64, l: &TypeLayout) -> u64 {
    let tag = match l.shape {
        Shape::Scalar => TAG_SCALAR,
        Shape::Opaque => TAG_OPAQUE,
        Shape::Array { .. } => TAG_ARRAY,
        Shape::Struct { .. } => TAG_STRUCT,
    };
    h = byte(h, tag);
    h = num(h, l.size);
    h = num(h, l.align);
    match l.shape {
        Shape::Scalar | Shape::Opaque => string(h, l.name),
        // The array's name is a placeholder ("[T;N]"): the element and length say it all.
        Shape::Array { elem, len } => node(num(h, len), elem),
        Shape::Struct { fields } => {
            h = string(h, l.name);
            h = num(h, fields.len());
            let mut i = 0;
            while i < fields.len() {
                let f = &fields[i];
                h = byte(h, TAG_FIELD);
                h = string(h, f.name);
                h = num(h, f.offset);
                h = node(h, f.layout);
                i += 1;
            }
            h
        }
    }
}

/// SplitMix64's finaliser: spreads FNV's weak high bits over the whole word.
pub(super) const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The hash state after the target's prefix (format version, byte order, pointer width).
pub(super) const fn start() -> u64 {
    let h = byte(FNV_OFFSET, VERSION);
    let order = if cfg!(target_endian = "little") {
        b'l'
    } else {
        b'b'
    };
    byte(byte(h, order), usize::BITS as u8)
}

/// The fingerprint: target (byte order, pointer width), then the tree.
pub(super) const fn fingerprint(l: &TypeLayout) -> u64 {
    mix(node(start(), l))
}
