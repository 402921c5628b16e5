//! What the layout check costs when a segment is opened: the fingerprint (a compile-time
//! constant, measured here at run time for comparison), writing the schema, parsing one
//! back, and comparing two schemas (equal, and with differences).

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64};

use criterion::{criterion_group, criterion_main, Criterion};
use ipc_core::layout::{diff_schemas, Schema};
use ipc_core::SharedLayout;
use ipc_derive::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
struct Slot {
    seq: AtomicU64,
    key: [u8; 32],
    value: [u64; 4],
}

/// A realistic shared struct: counters, a histogram, nested structs and arrays of them.
#[derive(SharedLayout)]
#[repr(C, align(64))]
struct Stats {
    requests: AtomicU64,
    errors: AtomicU64,
    hist: [u64; 32],
    slots: [Slot; 16],
    last: Slot,
    flags: AtomicU32,
    version: u32,
}

mod v2 {
    use super::*;
    /// `Stats` with one field retyped and one added.
    #[derive(SharedLayout)]
    #[repr(C, align(64))]
    pub struct Stats {
        pub requests: AtomicU64,
        pub errors: AtomicU64,
        pub hist: [u32; 32],
        pub slots: [Slot; 16],
        pub last: Slot,
        pub flags: AtomicU32,
        pub version: u32,
        pub extra: u64,
    }
}

fn bench(c: &mut Criterion) {
    let schema = Stats::LAYOUT.schema();
    let schema_v2 = v2::Stats::LAYOUT.schema();
    // hist retyped, four fields moved, extra added.
    assert_eq!(diff_schemas(&schema, &schema_v2).len(), 6);

    c.bench_function("fingerprint (run time)", |b| {
        b.iter(|| black_box(&Stats::LAYOUT).fingerprint())
    });
    c.bench_function("schema()", |b| {
        b.iter(|| black_box(&Stats::LAYOUT).schema())
    });
    c.bench_function("Schema::parse", |b| {
        b.iter(|| Schema::parse(black_box(&schema)).unwrap())
    });
    c.bench_function("diff_schemas equal", |b| {
        b.iter(|| diff_schemas(black_box(&schema), black_box(&schema)))
    });
    c.bench_function("diff_schemas v1 vs v2", |b| {
        b.iter(|| diff_schemas(black_box(&schema), black_box(&schema_v2)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
