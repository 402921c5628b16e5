//! Behaviour of `#[derive(SharedLayout)]`: the layout tree it generates, the fingerprint's
//! equalities and differences, and `init_in_place`.

use std::mem::{align_of, offset_of, size_of};
use std::sync::atomic::{AtomicU32, AtomicU64};

use ipc_core::layout::{diff_schemas, Field, SchemaDiffKind, Shape};
use ipc_core::{Result, SharedLayout, TypeLayout};
use ipc_derive::SharedLayout;

fn fp<T: SharedLayout>() -> u64 {
    T::LAYOUT.fingerprint()
}

fn fields(l: &TypeLayout) -> &'static [Field] {
    match l.shape {
        Shape::Struct { fields } => fields,
        other => panic!("not a struct: {other:?}"),
    }
}

// The same layout written twice, in two modules.
mod a {
    use super::*;
    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Stats {
        pub requests: AtomicU64,
        pub hist: [u64; 32],
        pub last: u32,
    }
}
mod b {
    use super::*;
    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Stats {
        pub requests: AtomicU64,
        pub hist: [u64; 32],
        pub last: u32,
    }
}

// One change each, all named `Stats` so only the change differs.
mod reordered {
    use super::*;
    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Stats {
        pub hist: [u64; 32],
        pub requests: AtomicU64,
        pub last: u32,
    }
}
mod retyped {
    use super::*;
    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Stats {
        pub requests: AtomicU64,
        pub hist: [u64; 32],
        pub last: i32, // same size and align as u32: only the name of the type differs
    }
}
mod renamed {
    use super::*;
    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Stats {
        pub requests: AtomicU64,
        pub hist: [u64; 32],
        pub latest: u32,
    }
}
mod added {
    use super::*;
    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Stats {
        pub requests: AtomicU64,
        pub hist: [u64; 32],
        pub last: u32,
        pub extra: u32, // fits in the old tail padding: same size and align
    }
}
mod aligned {
    use super::*;
    #[derive(SharedLayout)]
    #[repr(C, align(64))]
    pub struct Stats {
        pub requests: AtomicU64,
        pub hist: [u64; 32],
        pub last: u32,
    }
}
mod array_len {
    use super::*;
    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Stats {
        pub requests: AtomicU64,
        pub hist: [u64; 31],
        pub last: u32,
    }
}
mod type_renamed {
    use super::*;
    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Counters {
        pub requests: AtomicU64,
        pub hist: [u64; 32],
        pub last: u32,
    }
}
mod name_override {
    use super::*;
    /// Another type name, but the layout name of `a::Stats`.
    #[derive(SharedLayout)]
    #[repr(C)]
    #[shared_layout(name = "Stats")]
    pub struct StatsV1 {
        pub requests: AtomicU64,
        pub hist: [u64; 32],
        pub last: u32,
    }
}

// Nesting: the same bytes as a flat struct, but grouped in an inner struct.
mod flat {
    use super::*;
    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Outer {
        pub x: u32,
        pub y: u32,
    }
}
mod nested {
    use super::*;
    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Inner {
        pub x: u32,
        pub y: u32,
    }
    #[derive(SharedLayout)]
    #[repr(C)]
    pub struct Outer {
        pub x: Inner,
    }
    /// The inner struct changes (y becomes i32); the outer does not.
    pub mod deep {
        use super::*;
        #[derive(SharedLayout)]
        #[repr(C)]
        pub struct Inner {
            pub x: u32,
            pub y: i32,
        }
        #[derive(SharedLayout)]
        #[repr(C)]
        pub struct Outer {
            pub x: Inner,
        }
    }
}

#[test]
fn same_layout_in_two_modules_has_the_same_fingerprint_and_schema() {
    assert_eq!(fp::<a::Stats>(), fp::<b::Stats>());
    assert_eq!(a::Stats::LAYOUT.schema(), b::Stats::LAYOUT.schema());
    assert_eq!(a::Stats::LAYOUT, b::Stats::LAYOUT);
    // The bare name, not the module path.
    assert_eq!(a::Stats::LAYOUT.name, "Stats");
    // Overriding the name to the old one makes a renamed type compatible again.
    assert_eq!(fp::<name_override::StatsV1>(), fp::<a::Stats>());
}

#[test]
fn fingerprint_is_a_compile_time_constant() {
    const FP: u64 = <a::Stats as SharedLayout>::LAYOUT.fingerprint();
    assert_eq!(FP, fp::<a::Stats>());
}

#[test]
fn each_kind_of_change_changes_the_fingerprint() {
    let base = fp::<a::Stats>();
    let changed = [
        ("field order", fp::<reordered::Stats>()),
        ("field type", fp::<retyped::Stats>()),
        ("field name", fp::<renamed::Stats>()),
        ("added field", fp::<added::Stats>()),
        ("alignment", fp::<aligned::Stats>()),
        ("array length", fp::<array_len::Stats>()),
        ("type name", fp::<type_renamed::Counters>()),
    ];
    for (what, f) in changed {
        assert_ne!(f, base, "{what} did not change the fingerprint");
    }
    // The changes that keep size and alignment are caught by the fingerprint, not by size.
    assert_eq!(size_of::<retyped::Stats>(), size_of::<a::Stats>());
    assert_eq!(size_of::<added::Stats>(), size_of::<a::Stats>());
    assert_eq!(size_of::<renamed::Stats>(), size_of::<a::Stats>());
    // All pairwise distinct, too.
    let mut all: Vec<u64> = changed.iter().map(|c| c.1).collect();
    all.push(base);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), changed.len() + 1);
}

#[test]
fn nesting_changes_the_fingerprint() {
    // Same bytes (two u32 at 0 and 4), different trees.
    assert_eq!(size_of::<flat::Outer>(), size_of::<nested::Outer>());
    assert_ne!(fp::<flat::Outer>(), fp::<nested::Outer>());
    // A change deep inside changes the outer fingerprint.
    assert_ne!(fp::<nested::Outer>(), fp::<nested::deep::Outer>());
    let d = diff_schemas(
        &nested::Outer::LAYOUT.schema(),
        &nested::deep::Outer::LAYOUT.schema(),
    );
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].path(), "Outer.x.y");
    assert_eq!(
        d[0].to_string(),
        "field `x.y`: expected type u32, found i32"
    );
}

#[test]
fn the_diff_names_each_changed_field() {
    let base = a::Stats::LAYOUT.schema();
    let d = diff_schemas(&base, &retyped::Stats::LAYOUT.schema());
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].path(), "Stats.last");
    assert_eq!(
        d[0].to_string(),
        "field `last`: expected type u32, found i32"
    );

    let d = diff_schemas(&base, &renamed::Stats::LAYOUT.schema());
    let shown: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "field `last`: missing (expected u32 at offset 264)",
            "field `latest`: added (u32 at offset 264)"
        ]
    );

    let d = diff_schemas(&base, &added::Stats::LAYOUT.schema());
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        d[0].kind(),
        &SchemaDiffKind::Added {
            ty: "u32".into(),
            offset: 268
        }
    );

    let d = diff_schemas(&base, &reordered::Stats::LAYOUT.schema());
    let paths: Vec<&str> = d.iter().map(|d| d.path()).collect();
    assert_eq!(paths, ["Stats.requests", "Stats.hist"], "{d:?}");
    assert_eq!(
        d[0].kind(),
        &SchemaDiffKind::Moved {
            expected: 0,
            found: 256
        }
    );

    let d = diff_schemas(&base, &aligned::Stats::LAYOUT.schema());
    let shown: Vec<String> = d.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "type `Stats`: expected align 8, found 64",
            "type `Stats`: expected size 272, found 320"
        ]
    );

    let d = diff_schemas(&base, &array_len::Stats::LAYOUT.schema());
    assert_eq!(
        d[0].to_string(),
        "field `hist`: expected type [u64;32], found [u64;31]"
    );

    let d = diff_schemas(&base, &type_renamed::Counters::LAYOUT.schema());
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0].to_string(),
        "type `Stats`: expected type Stats, found Counters"
    );

    assert!(diff_schemas(&base, &b::Stats::LAYOUT.schema()).is_empty());
}

#[test]
fn layout_tree_matches_the_language() {
    let l = a::Stats::LAYOUT;
    assert_eq!(l.size, size_of::<a::Stats>());
    assert_eq!(l.align, align_of::<a::Stats>());
    let f = fields(&l);
    assert_eq!(f.len(), 3);
    assert_eq!(
        (f[0].name, f[0].offset, f[0].layout),
        ("requests", 0, &AtomicU64::LAYOUT)
    );
    assert_eq!(
        (f[1].name, f[1].offset),
        ("hist", offset_of!(a::Stats, hist))
    );
    assert_eq!(f[1].layout, &<[u64; 32]>::LAYOUT);
    assert_eq!(
        (f[2].name, f[2].offset),
        ("last", offset_of!(a::Stats, last))
    );
    assert_eq!(
        l.schema(),
        "Stats(272/8){requests:AtomicU64(8/8)@0,hist:[u64(8/8);32]@8,last:u32(4/4)@264}"
    );
}

#[derive(SharedLayout)]
#[repr(C)]
struct Tuple(u8, u32, [i16; 3]);

#[derive(SharedLayout)]
#[repr(C)]
struct Unit;

#[derive(SharedLayout)]
#[repr(transparent)]
struct Meters(f64);

#[derive(SharedLayout)]
#[repr(C, align(128))]
struct Padded {
    counter: AtomicU64,
}

#[allow(non_camel_case_types)]
#[derive(SharedLayout)]
#[repr(C)]
struct r#Raw {
    r#type: u32,
}

#[test]
fn tuple_unit_transparent_aligned_and_raw_structs() {
    assert_eq!(
        Tuple::LAYOUT.schema(),
        "Tuple(16/4){0:u8(1/1)@0,1:u32(4/4)@4,2:[i16(2/2);3]@8}"
    );
    assert_eq!(Unit::LAYOUT.schema(), "Unit(0/1){}");
    assert_eq!(Meters::LAYOUT.schema(), "Meters(8/8){0:f64(8/8)@0}");
    assert_eq!(
        Padded::LAYOUT.schema(),
        "Padded(128/128){counter:AtomicU64(8/8)@0}"
    );
    assert_eq!(Raw::LAYOUT.schema(), "Raw(4/4){type:u32(4/4)@0}");
}

// Generic structs: `&<T as SharedLayout>::LAYOUT` must be promoted to 'static in a generic
// impl; this would not compile otherwise. Const generics too.
#[derive(SharedLayout)]
#[repr(C)]
struct Pair<T> {
    first: T,
    second: T,
}

#[derive(SharedLayout)]
#[repr(C)]
struct Ring<T: Copy, const N: usize>
where
    T: Sync,
{
    head: AtomicU32,
    slots: [T; N],
}

#[test]
fn generic_structs_have_per_instance_layouts() {
    static L: &TypeLayout = &Pair::<u64>::LAYOUT;
    assert_eq!(L.schema(), "Pair(16/8){first:u64(8/8)@0,second:u64(8/8)@8}");
    assert_eq!(
        Pair::<u16>::LAYOUT.schema(),
        "Pair(4/2){first:u16(2/2)@0,second:u16(2/2)@2}"
    );
    assert_ne!(fp::<Pair<u64>>(), fp::<Pair<i64>>());
    assert_eq!(
        Ring::<u16, 3>::LAYOUT.schema(),
        "Ring(12/4){head:AtomicU32(4/4)@0,slots:[u16(2/2);3]@4}"
    );
    assert_ne!(fp::<Ring<u16, 3>>(), fp::<Ring<u16, 4>>());
    assert_eq!(
        Pair::<Pair<u8>>::LAYOUT.schema(),
        "Pair(4/1){first:Pair(2/1){first:u8(1/1)@0,second:u8(1/1)@1}@0,\
         second:Pair(2/1){first:u8(1/1)@0,second:u8(1/1)@1}@2}"
    );
}

/// A hand-written type whose `init_in_place` leaves a mark, to see the derive call it at the
/// right place.
#[repr(C)]
struct Marker(AtomicU32);

// SAFETY: repr(C) over an AtomicU32: fixed layout, every bit pattern valid, no pointer, no
// Drop, Sync + 'static; LAYOUT is its name, size and align (opaque contents).
unsafe impl SharedLayout for Marker {
    const LAYOUT: TypeLayout = TypeLayout::opaque("Marker", 4, 4);

    unsafe fn init_in_place(this: *mut Self) -> Result<()> {
        // SAFETY: the caller guarantees `this` is valid for writes, aligned and exclusive.
        unsafe { this.write(Marker(AtomicU32::new(0xC0FFEE))) };
        Ok(())
    }
}

#[derive(SharedLayout)]
#[repr(C)]
struct WithMarkers {
    a: u8,
    m: Marker,
    b: u16,
    ms: [Marker; 3],
    inner: Pair<Marker>,
}

#[test]
fn init_in_place_initialises_every_field_in_place() {
    use std::mem::MaybeUninit;
    use std::sync::atomic::Ordering::Relaxed;
    let mut slot = MaybeUninit::<WithMarkers>::zeroed();
    // SAFETY: the pointer is to our own zeroed, aligned, exclusive storage of the right size.
    unsafe { WithMarkers::init_in_place(slot.as_mut_ptr()).unwrap() };
    // SAFETY: every field is an integer or an atomic, valid once zeroed or initialised.
    let v = unsafe { slot.assume_init_ref() };
    assert_eq!(v.a, 0);
    assert_eq!(v.b, 0);
    assert_eq!(v.m.0.load(Relaxed), 0xC0FFEE);
    for m in &v.ms {
        assert_eq!(m.0.load(Relaxed), 0xC0FFEE);
    }
    assert_eq!(v.inner.first.0.load(Relaxed), 0xC0FFEE);
    assert_eq!(v.inner.second.0.load(Relaxed), 0xC0FFEE);
    assert_eq!(
        WithMarkers::LAYOUT.schema(),
        "WithMarkers(32/4){a:u8(1/1)@0,m:Marker(opaque 4/4)@4,b:u16(2/2)@8,\
         ms:[Marker(opaque 4/4);3]@12,inner:Pair(8/4){first:Marker(opaque 4/4)@0,\
         second:Marker(opaque 4/4)@4}@24}"
    );
}

/// A type whose init fails: the derived init stops and reports it.
#[repr(C)]
struct Failing(u32);

// SAFETY: repr(C) over a u32; LAYOUT describes it.
unsafe impl SharedLayout for Failing {
    const LAYOUT: TypeLayout = TypeLayout::opaque("Failing", 4, 4);

    unsafe fn init_in_place(_: *mut Self) -> Result<()> {
        Err(ipc_core::Error::new(
            "test init",
            ipc_core::ErrorKind::Unrecoverable,
        ))
    }
}

#[derive(SharedLayout)]
#[repr(C)]
struct HoldsFailing {
    ok: Marker,
    bad: Failing,
}

#[test]
fn init_in_place_propagates_a_field_error() {
    let mut slot = std::mem::MaybeUninit::<HoldsFailing>::zeroed();
    // SAFETY: our own zeroed, aligned, exclusive storage.
    let r = unsafe { HoldsFailing::init_in_place(slot.as_mut_ptr()) };
    assert_eq!(r.unwrap_err().op(), "test init");
}

/// The runtime crate reached through another path, as a user who re-exports it would.
mod reexport {
    pub use ipc_core as inner;
}

#[derive(SharedLayout)]
#[repr(C)]
#[shared_layout(crate = "crate::reexport::inner", name = "Explicit")]
struct ViaCrateAttr {
    x: u16,
}

#[test]
fn crate_attribute_sets_the_runtime_path() {
    assert_eq!(
        <ViaCrateAttr as reexport::inner::SharedLayout>::LAYOUT.schema(),
        "Explicit(2/2){x:u16(2/2)@0}"
    );
}

#[test]
fn parsed_schemas_of_derived_types_have_their_fingerprints() {
    use ipc_core::layout::Schema;
    fn check<T: SharedLayout>() {
        let s = Schema::parse(&T::LAYOUT.schema()).unwrap();
        assert_eq!(
            s.fingerprint(),
            T::LAYOUT.fingerprint(),
            "{}",
            T::LAYOUT.schema()
        );
    }
    check::<a::Stats>();
    check::<aligned::Stats>();
    check::<nested::Outer>();
    check::<Tuple>();
    check::<Unit>();
    check::<WithMarkers>();
    check::<Ring<u16, 3>>();
    check::<Pair<Pair<u8>>>();
}
