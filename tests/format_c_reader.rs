//! The proof that FORMAT.md is complete: `readers/c/read_segment.c`, written from FORMAT.md
//! alone (C11, libc, futex), is compiled with `cc` and run as a separate process on segments
//! this test makes with `SharedArray<T>`, `Shared<T>` and the rings; its output must match
//! what Rust stored, and it must refuse corrupted, truncated and foreign copies. As the
//! consumer of an SPSC ring (`--consume N`) it pops what a Rust producer pushes. Skips
//! (passes with a note) when no C compiler is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU64};
use std::sync::OnceLock;

use ipc::collections::format::{Header, ARRAY_CONTROL_LEN, HEADER_LEN};
use ipc::collections::{Error, ErrorKind};
use ipc::collections::{Shared, SharedArray, SharedMutex};
use ipc::SharedLayout;
use ipc_testutil::{run_with_watchdog, unique_name, Cleanup, WATCHDOG};

#[derive(SharedLayout)]
#[repr(C)]
struct Point {
    x: f32,
    y: f32,
}

/// A derived struct with atomics, arrays, a nested struct, an array of structs and a lock.
#[derive(SharedLayout)]
#[repr(C)]
struct Telemetry {
    hits: AtomicU64,
    level: AtomicI32,
    flags: u8,
    pos: Point,
    hist: [u16; 3],
    track: [Point; 2],
    total: SharedMutex<i64>,
}

/// Compiles the reader once per test binary; `None` (with a note) if there is no compiler,
/// a failure instead where `IPC_REQUIRE_READERS=1` (CI).
fn reader() -> Option<&'static Path> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| ipc_testutil::c_reader::build(Path::new(env!("CARGO_TARGET_TMPDIR"))))
        .as_deref()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the reader on `name` with a watchdog.
fn read(bin: &Path, args: &[&str]) -> Run {
    let o = run_with_watchdog(Command::new(bin).args(args), WATCHDOG);
    Run {
        code: o.status.code().expect("read_segment killed by a signal"),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The `key=value` lines of the reader's output, in order.
fn pairs(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn value<'a>(p: &'a [(String, String)], key: &str) -> &'a str {
    p.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key}= in {p:?}"))
}

/// Checks the header lines against what the Rust side knows.
fn check_header(p: &[(String, String)], name: &str, info: &ipc::collections::SegmentInfo) {
    let size = std::fs::metadata(format!("/dev/shm{name}")).unwrap().len();
    let dims: Vec<String> = info.dims.iter().map(usize::to_string).collect();
    let want = [
        ("name", name.to_owned()),
        ("size", size.to_string()),
        ("state", "2".into()),
        ("version", "1".into()),
        ("rank", info.dims.len().to_string()),
        ("dims", dims.join(",")),
        ("pointer_width", size_of::<usize>().to_string()),
        ("creator_pid", std::process::id().to_string()),
        ("creator_start_time", info.creator_start_time.to_string()),
        ("creation_time_ns", info.creation_time_ns.to_string()),
        ("type_name", info.type_name.clone()),
        ("elem_size", info.elem_size.to_string()),
        ("elem_align", info.elem_align.to_string()),
        ("fingerprint", format!("{:#018x}", info.fingerprint)),
        ("schema", info.schema.clone()),
        ("control_offset", info.control.start.to_string()),
        ("control_len", info.control.len().to_string()),
        ("payload_offset", info.payload.start.to_string()),
        ("payload_len", info.payload.len().to_string()),
        ("ring_capacity", "0".into()),
    ];
    for (k, v) in want {
        assert_eq!(value(p, k), v, "field {k}");
    }
}

#[test]
fn c_reader_reads_an_f64_array_exactly() {
    let Some(bin) = reader() else { return };
    let name = unique_name("c-f64");
    let _c = Cleanup::shm(&name);
    let vals: Vec<f64> = (0..12)
        .map(|i| f64::from(i) * 0.1 - 0.35 + f64::from(i * i) * 1e-17)
        .collect();
    let a = SharedArray::<f64>::options()
        .dims(&[3, 4])
        .create(&name, |x| x.copy_from_slice(&vals))
        .unwrap();
    let r = read(bin, &[&name]);
    assert_eq!(r.code, 0, "{r:?}");
    let p = pairs(&r.stdout);
    check_header(&p, &name, a.info());
    assert_eq!(value(&p, "kind"), "2");
    for (k, want) in vals.iter().enumerate() {
        let key = format!("[{},{}]", k / 4, k % 4);
        let got: f64 = value(&p, &key).parse().unwrap();
        // %.17g round-trips every f64 exactly.
        assert_eq!(got.to_bits(), want.to_bits(), "{key}");
    }
    // --max bounds the listing.
    let r = read(bin, &[&name, "--max", "5"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("[1,0]="), "{r:?}");
    assert!(!r.stdout.contains("[1,1]="), "{r:?}");
    assert!(r.stdout.ends_with("... 7 more\n"), "{r:?}");
    drop(a);
}

#[test]
fn c_reader_reads_integer_arrays() {
    let Some(bin) = reader() else { return };
    let (n1, n2) = (unique_name("c-i32"), unique_name("c-u8"));
    let _c = [Cleanup::shm(&n1), Cleanup::shm(&n2)];
    let a = SharedArray::<i32>::options()
        .dims(&[5])
        .create(&n1, |x| x.copy_from_slice(&[i32::MIN, -1, 0, 7, i32::MAX]))
        .unwrap();
    let b = SharedArray::<u8>::options()
        .dims(&[2, 2, 2])
        .create(&n2, |x| {
            for (i, v) in x.iter_mut().enumerate() {
                *v = 250 + i as u8 % 6;
            }
        })
        .unwrap();
    let r = read(bin, &[&n1]);
    assert_eq!(r.code, 0, "{r:?}");
    check_header(&pairs(&r.stdout), &n1, a.info());
    assert!(
        r.stdout
            .ends_with("[0]=-2147483648\n[1]=-1\n[2]=0\n[3]=7\n[4]=2147483647\n"),
        "{r:?}"
    );
    let r = read(bin, &[&n2]);
    assert_eq!(r.code, 0, "{r:?}");
    check_header(&pairs(&r.stdout), &n2, b.info());
    assert!(
        r.stdout.ends_with(
            "[0,0,0]=250\n[0,0,1]=251\n[0,1,0]=252\n[0,1,1]=253\n\
             [1,0,0]=254\n[1,0,1]=255\n[1,1,0]=250\n[1,1,1]=251\n"
        ),
        "{r:?}"
    );
    drop((a, b));
}

#[test]
fn c_reader_walks_the_schema_of_a_derived_struct() {
    let Some(bin) = reader() else { return };
    let name = unique_name("c-struct");
    let _c = Cleanup::shm(&name);
    let s = Shared::<Telemetry>::create(&name, |t| {
        *t.hits.get_mut() = u64::MAX - 1;
        *t.level.get_mut() = -42;
        t.flags = 0xA5;
        t.pos = Point { x: 1.5, y: -0.25 };
        t.hist = [1, 65535, 300];
        t.track = [Point { x: 0.1, y: 2.0 }, Point { x: -3.0, y: 1e30 }];
    })
    .unwrap();
    *s.total.lock().unwrap() = -9_000_000_000;
    let r = read(bin, &[&name]);
    assert_eq!(r.code, 0, "{r:?}");
    let p = pairs(&r.stdout);
    check_header(&p, &name, s.info());
    assert_eq!(value(&p, "kind"), "1");
    assert_eq!(value(&p, "dims"), "");
    // The lines after the header: one per scalar leaf of the schema, in schema order. Floats
    // are compared by value (C prints f32 with %.9g, which round-trips).
    let is_float = |k: &str| k.ends_with(".x") || k.ends_with(".y");
    let got: Vec<(String, String)> = p
        .iter()
        .skip_while(|(k, _)| k != "checksum")
        .skip(1)
        .map(|(k, v)| {
            let v = if is_float(k) {
                format!("{:?}", v.parse::<f32>().unwrap())
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    let f = |v: f32| format!("{v:?}");
    let want: Vec<(String, String)> = [
        ("hits", (u64::MAX - 1).to_string()),
        ("level", "-42".into()),
        ("flags", "165".into()),
        ("pos.x", f(1.5)),
        ("pos.y", f(-0.25)),
        ("hist[0]", "1".into()),
        ("hist[1]", "65535".into()),
        ("hist[2]", "300".into()),
        ("track[0].x", f(0.1)),
        ("track[0].y", f(2.0)),
        ("track[1].x", f(-3.0)),
        ("track[1].y", f(1e30)),
        // The SharedMutex's poisoned flag is a plain field of its lock: a C reader sees it.
        ("total.raw.poisoned", "0".into()),
        ("total.raw.reserved", "0".into()),
        ("total.data", "-9000000000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(got, want, "{r:?}");

    // --max bounds the fields printed too.
    let r = read(bin, &[&name, "--max", "3"]);
    assert_eq!(r.code, 0, "{r:?}");
    let tail: Vec<&str> = r.stdout.lines().rev().take(4).collect();
    assert_eq!(
        tail,
        [
            "... more fields not shown (--max 3)",
            "flags=165",
            "level=-42",
            &format!("hits={}", u64::MAX - 1),
        ],
        "{r:?}"
    );
    drop(s);
}

/// Writes `bytes` as a new shm object (a copy of a segment, possibly damaged).
fn write_copy(name: &str, bytes: &[u8]) {
    std::fs::write(format!("/dev/shm{name}"), bytes).unwrap();
}

/// Recomputes the checksum of a header copy (after a deliberate field change).
fn fix_checksum(v: &mut [u8], schema_len: usize) {
    let mut h = Header::read(v).unwrap();
    h.seal(&v[HEADER_LEN..HEADER_LEN + schema_len]);
    v[..HEADER_LEN].copy_from_slice(&h.to_bytes());
}

#[test]
fn c_reader_refuses_corrupted_truncated_and_foreign_copies() {
    let Some(bin) = reader() else { return };
    let name = unique_name("c-orig");
    let copy = unique_name("c-copy");
    let _c = [Cleanup::shm(&name), Cleanup::shm(&copy)];
    let a = SharedArray::<f64>::create(&name, &[4, 2]).unwrap();
    let orig = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let schema_len = a.info().schema.len();

    // An intact copy reads; the copy is what the cases below damage.
    write_copy(&copy, &orig);
    let r = read(bin, &[&copy]);
    assert_eq!(r.code, 0, "{r:?}");

    // Every flipped bit of the immutable header and the schema is refused.
    for byte in (0..256 + schema_len).filter(|b| !(8..12).contains(b)) {
        for bit in [0, 5] {
            let mut v = orig.clone();
            v[byte] ^= 1 << bit;
            write_copy(&copy, &v);
            let r = read(bin, &[&copy]);
            assert_eq!(r.code, 2, "byte {byte} bit {bit}: {r:?}");
            assert!(r.stderr.contains("invalid segment"), "{r:?}");
        }
    }

    let refuse = |what: &str, v: &[u8], why: &str| {
        write_copy(&copy, v);
        let r = read(bin, &[&copy]);
        assert_eq!(r.code, 2, "{what}: {r:?}");
        assert!(r.stderr.contains(why), "{what}: {r:?}");
    };
    refuse(
        "truncated payload",
        &orig[..orig.len() - 1],
        "past the object",
    );
    refuse(
        "truncated header",
        &orig[..200],
        "smaller than the 256-byte header",
    );
    refuse("empty", &[], "smaller than the 256-byte header");
    refuse("foreign", &[0x55; 4096], "bad magic");

    // Consistent headers (checksum fixed up) with a field out of range.
    let u64_at =
        |v: &mut Vec<u8>, at: usize, x: u64| v[at..at + 8].copy_from_slice(&x.to_ne_bytes());
    let mut v = orig.clone();
    v[12..16].copy_from_slice(&0x0102_0304u32.swap_bytes().to_ne_bytes());
    fix_checksum(&mut v, schema_len);
    refuse("other byte order", &v, "other byte order");
    let mut v = orig.clone();
    u64_at(&mut v, 128, u64::MAX / 2); // dims[0]: the product overflows
    fix_checksum(&mut v, schema_len);
    refuse("dims overflow", &v, "overflow");
    let mut v = orig.clone();
    u64_at(&mut v, 112, 8 * 8 + 8); // payload_len one element more
    fix_checksum(&mut v, schema_len);
    refuse("payload_len", &v, "payload_len differs");
    let mut v = orig.clone();
    u64_at(&mut v, 104, 448); // payload_offset moved
    fix_checksum(&mut v, schema_len);
    refuse("payload_offset", &v, "payload_offset differs");
    let mut v = orig.clone();
    u64_at(&mut v, 80, u64::MAX); // schema_len
    fix_checksum(&mut v, 0);
    refuse("schema_len", &v, "schema_len");

    // A valid header that is not ready (state 1: a creator mid-init) is not read.
    let mut v = orig.clone();
    v[8..12].copy_from_slice(&1u32.to_ne_bytes());
    write_copy(&copy, &v);
    let r = read(bin, &[&copy]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("not ready"), "{r:?}");

    let r = read(bin, &["/ipct-c-no-such-object"]);
    assert_eq!(r.code, 1, "{r:?}");
    drop(a);
}

/// The reader built with AddressSanitizer and UBSan (`None` if the compiler cannot).
fn sanitized_reader() -> Option<&'static Path> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let src = ipc_testutil::c_reader::SOURCE;
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("read_segment_asan");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let ok = Command::new(&cc)
            .args(["-std=c11", "-g", "-O1", "-fsanitize=address,undefined"])
            .args(["-fno-sanitize-recover=all", "-o"])
            .arg(&out)
            .arg(src)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(out)
    })
    .as_deref()
}

/// Random changes to the header and schema of a value segment, with the checksum fixed up
/// (as a buggy creator of another build would write them): the reader refuses or reads, and
/// never crashes or reads out of bounds (checked with sanitizers where available).
#[test]
fn c_reader_survives_random_consistent_headers() {
    let Some(plain) = reader() else { return };
    let bin = sanitized_reader().unwrap_or_else(|| {
        eprintln!("note: no sanitizer build; using the plain reader");
        plain
    });
    let name = unique_name("c-fz-orig");
    let copy = unique_name("c-fz-copy");
    let _c = [Cleanup::shm(&name), Cleanup::shm(&copy)];
    let s = Shared::<Telemetry>::create(&name, |_| {}).unwrap();
    let orig = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let schema_len = s.info().schema.len();
    let mut next = ipc_testutil::xorshift64(0x2545_f491_4f6c_dd1d);
    const ALPHABET: &[u8] = b"0123456789[];:@(){},/ opaque_xyzu";
    let (mut read_ok, mut refused) = (0, 0);
    for round in 0..300 {
        let mut v = orig.clone();
        for _ in 0..1 + next() % 3 {
            if next() % 3 == 0 {
                // A header field: a random byte, or a whole word set to an edge value.
                let at = (next() % 248) as usize & !7;
                let words = [0, 1, u64::MAX, 1 << 63, next(), next() % 4096];
                let w = words[(next() % words.len() as u64) as usize];
                if at != 8 {
                    v[at..at + 8].copy_from_slice(&w.to_ne_bytes());
                }
            } else {
                // A schema byte, drawn from the grammar's alphabet to get past the parser's
                // first checks.
                let at = 256 + (next() % schema_len as u64) as usize;
                v[at] = ALPHABET[(next() % ALPHABET.len() as u64) as usize];
            }
        }
        let claimed = usize::try_from(u64::from_ne_bytes(v[80..88].try_into().unwrap()))
            .unwrap_or(usize::MAX);
        if round % 4 != 0 && claimed <= v.len() - 256 {
            fix_checksum(&mut v, claimed);
        }
        write_copy(&copy, &v);
        let r = read(bin, &[&copy, "--max", "50"]);
        assert!(
            matches!(r.code, 0 | 2 | 3),
            "round {round}: {r:?}\nheader+schema: {:?}",
            &v[..256 + schema_len]
        );
        assert!(!r.stderr.contains("Sanitizer"), "round {round}: {r:?}");
        assert!(!r.stderr.contains("runtime error"), "round {round}: {r:?}");
        if r.code == 0 {
            read_ok += 1;
        } else {
            refused += 1;
        }
    }
    // Both outcomes occur: the mutations reach the checks behind the checksum.
    assert!(
        read_ok > 0 && refused > 0,
        "{read_ok} read, {refused} refused"
    );
    drop(s);
}

// ---- FORMAT.md's rules, each checked on the library and the C reader alike -----------------

/// A zero-sized derived struct, and a value holding 2^40 of them (a valid, zero-sized
/// segment whose schema describes 2^40 elements without a byte or a scalar between them).
#[derive(SharedLayout)]
#[repr(C)]
struct Z {}

#[derive(SharedLayout)]
#[repr(C)]
struct Holder {
    zs: [Z; 1 << 40],
}

#[derive(SharedLayout)]
#[repr(C)]
struct Pair<T: SharedLayout> {
    a: T,
    b: T,
}

/// `orig` (a segment image) rebuilt with `schema`, the header edited by `edit`, and the
/// derived offsets recomputed as FORMAT.md says ("Derived offsets"), written independently
/// of the library; the payload bytes are carried over, the object sized to fit, the
/// checksum fixed up.
fn rebuild(orig: &[u8], schema: &str, edit: impl FnOnce(&mut Header)) -> Vec<u8> {
    let old = Header::read(orig).unwrap();
    let mut h = old;
    h.schema_len = schema.len() as u64;
    edit(&mut h);
    let up = |x: u64, a: u64| x.div_ceil(a) * a;
    let schema_end = 256 + h.schema_len;
    let control_end = if h.control_len == 0 {
        h.control_offset = 0;
        schema_end
    } else {
        h.control_offset = up(schema_end, 64);
        h.control_offset + h.control_len
    };
    h.payload_offset = up(control_end, h.elem_align.max(64));
    let mut v = vec![0u8; (h.payload_offset + h.payload_len) as usize];
    v[256..256 + schema.len()].copy_from_slice(schema.as_bytes());
    let (from, n) = (
        old.payload_offset as usize,
        old.payload_len.min(h.payload_len) as usize,
    );
    v[h.payload_offset as usize..][..n].copy_from_slice(&orig[from..from + n]);
    // The control block too (a ring's flavour and identity words, an array's flag).
    let (from, n) = (
        old.control_offset as usize,
        old.control_len.min(h.control_len) as usize,
    );
    v[h.control_offset as usize..][..n].copy_from_slice(&orig[from..from + n]);
    h.seal(schema.as_bytes());
    v[..256].copy_from_slice(&h.to_bytes());
    v
}

/// Writes `v` as `copy`; the library (`inspect`, which validates every rule) and the C reader
/// must both accept it (`Ok` with the reader's output) or both refuse it (`Err` with the
/// library's error; the C reader's stderr must contain `c_why`).
fn both(bin: &Path, copy: &str, v: &[u8], c_why: Option<&str>) -> Result<Run, Error> {
    write_copy(copy, v);
    let lib = ipc::collections::inspect(copy);
    let r = read(bin, &[copy]);
    match (lib, c_why) {
        (Ok(_), None) => {
            assert_eq!(r.code, 0, "library accepts, C reader: {r:?}");
            Ok(r)
        }
        (Err(e), Some(why)) => {
            assert_eq!(r.code, 2, "library refuses ({e}), C reader: {r:?}");
            assert!(r.stderr.contains(why), "{r:?}");
            Err(e)
        }
        (lib, _) => panic!("library {lib:?}, C reader {r:?}"),
    }
}

fn corrupted_because(e: Error, why: &str) {
    match e.kind() {
        ErrorKind::Corrupted => assert!(e.detail().is_some_and(|r| r.contains(why)), "{e}"),
        _ => panic!("expected Corrupted ({why}), got {e:?}"),
    }
}

/// Issue 9: the opener compares the stored schema and not only the fingerprint. A
/// checksum-consistent segment with the opener's fingerprint whose schema names another
/// field, or another type (in the schema and the header alike), is a LayoutMismatch naming
/// the difference; a header type name that is not its schema's is corrupted.
#[test]
fn opener_refuses_another_schema_with_the_same_fingerprint() {
    let (name, copy) = (unique_name("sch-orig"), unique_name("sch-copy"));
    let _c = [Cleanup::shm(&name), Cleanup::shm(&copy)];
    let s = Shared::<Point>::create(&name, |p| *p = Point { x: 1.0, y: 2.0 }).unwrap();
    assert_eq!(s.info().schema, "Point(8/4){x:f32(4/4)@0,y:f32(4/4)@4}");
    let orig = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let cases = [
        ("Point(8/4){x:f32(4/4)@0,z:f32(4/4)@4}", "Point", "`y`"),
        ("Poynt(8/4){x:f32(4/4)@0,y:f32(4/4)@4}", "Poynt", "Poynt"),
    ];
    for (schema, type_name, named) in cases {
        let v = rebuild(&orig, schema, |h| h.set_type_name(type_name));
        assert_eq!(Header::read(&v).unwrap().fingerprint, s.info().fingerprint);
        write_copy(&copy, &v);
        match Shared::<Point>::open(&copy) {
            Err(e) if e.kind() == ErrorKind::LayoutMismatch => {
                let m = e.layout_mismatch_details().unwrap();
                assert_eq!(m.found, schema);
                assert!(m.diffs.iter().any(|d| d.contains(named)), "{:?}", m.diffs);
            }
            other => panic!("{schema}: opened as Point: {other:?}"),
        }
        if let Some(bin) = reader() {
            assert_eq!(
                read(bin, &[&copy]).code,
                0,
                "a valid segment of another type"
            );
        }
    }
    let v = rebuild(&orig, &s.info().schema, |h| h.set_type_name("Poynt"));
    write_copy(&copy, &v);
    let e = Shared::<Point>::open(&copy).unwrap_err();
    corrupted_because(e, "top-level name");
    if let Some(bin) = reader() {
        both(bin, &copy, &v, Some("type_name is not the schema's")).unwrap_err();
    }
    drop(s);
}

/// Issue 10: the C reader bounds its work like `ipc dump`: an array whose element
/// has no scalar leaf is not walked. A valid `Shared<Holder>` (2^40 zero-sized elements)
/// and a forged `[Z(0/1){};2^64-1]` schema are each read within a second.
#[test]
fn c_reader_skips_arrays_of_leafless_elements_at_once() {
    let Some(bin) = reader() else { return };
    let (name, copy) = (unique_name("c-zst"), unique_name("c-zst-copy"));
    let _c = [Cleanup::shm(&name), Cleanup::shm(&copy)];
    let s = Shared::<Holder>::create(&name, |_| {}).unwrap();
    assert_eq!(
        s.info().schema,
        "Holder(0/1){zs:[Z(0/1){};1099511627776]@0}"
    );
    let second = std::time::Duration::from_secs(1);
    let o = run_with_watchdog(Command::new(bin).arg(&name), second);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let forged = format!("[Z(0/1){{}};{}]", u64::MAX);
    let orig = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let v = rebuild(&orig, &forged, |h| {
        h.set_type_name(&format!("[Z; {}]", u64::MAX))
    });
    write_copy(&copy, &v);
    assert_eq!(ipc::collections::inspect(&copy).unwrap().schema, forged);
    let o = run_with_watchdog(Command::new(bin).arg(&copy), second);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    drop(s);
}

/// FORMAT.md, "Control block": a value has none (control_len 0), an array exactly
/// ARRAY_CONTROL_LEN = 48 bytes; any other length is corrupted, for the library, the C
/// reader (and the Python reader: tests/quickstart_python.rs).
#[test]
fn control_block_length_is_fixed_per_kind() {
    let Some(bin) = reader() else { return };
    let (arr, val, copy) = (
        unique_name("cl-a"),
        unique_name("cl-v"),
        unique_name("cl-c"),
    );
    let _c = [Cleanup::shm(&arr), Cleanup::shm(&val), Cleanup::shm(&copy)];
    let a = SharedArray::<f64>::create(&arr, &[3]).unwrap();
    assert_eq!(a.info().control.len(), ARRAY_CONTROL_LEN);
    assert_eq!(ARRAY_CONTROL_LEN, 48);
    let s = Shared::<Point>::create(&val, |_| {}).unwrap();
    assert_eq!(s.info().control, 0..0);
    let orig = std::fs::read(format!("/dev/shm{arr}")).unwrap();
    for len in [0, 40, 41, 49, 64] {
        let v = rebuild(&orig, &a.info().schema, |h| h.control_len = len);
        let e = both(bin, &copy, &v, Some("control_len of an array")).unwrap_err();
        corrupted_because(e, "control_len");
    }
    let orig = std::fs::read(format!("/dev/shm{val}")).unwrap();
    let v = rebuild(&orig, &s.info().schema, |h| h.control_len = 48);
    let e = both(bin, &copy, &v, Some("control_len of a value")).unwrap_err();
    corrupted_because(e, "control_len");
    drop((a, s));
}

/// FORMAT.md, "Header and schema": type_name is the schema's top-level name, `[E; N]` for
/// an array type; a generic struct's name has no parameters (`Pair` for both `Pair<i16>` and
/// `Pair<i32>`: the schema and fingerprint tell them apart, and opening one as the other is
/// a LayoutMismatch). A size or alignment other than the schema's, or a schema that does not
/// parse, is corrupted.
#[test]
fn type_name_is_the_schemas_top_level_name() {
    let Some(bin) = reader() else { return };
    let names = [
        unique_name("tn-a"),
        unique_name("tn-p"),
        unique_name("tn-c"),
    ];
    let _c = names.each_ref().map(|n| Cleanup::shm(n));
    let [arr, pair, copy] = &names;
    let a = SharedArray::<[[u8; 4]; 2]>::create(arr, &[2]).unwrap();
    assert_eq!(a.info().type_name, "[[u8; 4]; 2]");
    let r = read(bin, &[arr]);
    assert_eq!(
        (r.code, value(&pairs(&r.stdout), "type_name")),
        (0, "[[u8; 4]; 2]"),
        "{r:?}"
    );
    let p = Shared::<Pair<i16>>::create(pair, |_| {}).unwrap();
    assert_eq!(p.info().type_name, "Pair");
    assert_eq!(p.info().schema, "Pair(4/2){a:i16(2/2)@0,b:i16(2/2)@2}");
    assert!(matches!(
        Shared::<Pair<i32>>::open(pair),
        Err(e) if e.kind() == ErrorKind::LayoutMismatch
    ));

    let orig = std::fs::read(format!("/dev/shm{pair}")).unwrap();
    let good = &p.info().schema;
    let refused = [
        (good.as_str(), "pair", "type_name is not", "top-level name"),
        (
            "Pair(8/2){a:i16(2/2)@0,b:i16(2/2)@2}",
            "Pair",
            "size/align",
            "size/align",
        ),
        (
            "Pair(4/4){a:i16(2/2)@0,b:i16(2/2)@2}",
            "Pair",
            "size/align",
            "size/align",
        ),
        (
            "Pair(4/2){a:i16(2/2)@0, b:i16(2/2)@2}",
            "Pair",
            "does not parse",
            "parse",
        ),
        (
            "Pair(4/2){a:i16(2/2)@0,b:i16(2/2)@2}\n",
            "Pair",
            "does not parse",
            "parse",
        ),
    ];
    for (schema, tn, c_why, why) in refused {
        let v = rebuild(&orig, schema, |h| h.set_type_name(tn));
        let e = both(bin, copy, &v, Some(c_why)).unwrap_err();
        corrupted_because(e, why);
    }
    // Fields may overlap and need not follow in offset order (zero-sized fields share one).
    let v = rebuild(&orig, "Pair(4/2){b:i16(2/2)@2,a:i16(2/2)@2}", |_| {});
    both(bin, copy, &v, None).unwrap();
    drop((a, p));
}

/// FORMAT.md, "Derived offsets": a zero dim makes the element count 0 before any overflow
/// check, so `[2^40, 2^40, 0]` is an empty array (it overflowed left to right before);
/// without a zero the product is checked left to right.
#[test]
fn a_zero_dim_makes_the_count_zero_before_any_overflow() {
    let Some(bin) = reader() else { return };
    let (name, copy) = (unique_name("zd"), unique_name("zd-copy"));
    let _c = [Cleanup::shm(&name), Cleanup::shm(&copy)];
    let a = SharedArray::<f64>::create(&name, &[1 << 40, 1 << 40, 0]).unwrap();
    assert_eq!((a.info().payload.len(), a.len()), (0, 0));
    let r = read(bin, &[&name]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        value(&pairs(&r.stdout), "dims"),
        "1099511627776,1099511627776,0"
    );
    let b = SharedArray::<f64>::open(&name).unwrap();
    assert_eq!(b.dims(), [1 << 40, 1 << 40, 0]);
    let orig = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let v = rebuild(&orig, "f64(8/8)", |h| h.dims[2] = 1 << 40);
    let e = both(bin, &copy, &v, Some("dims overflow")).unwrap_err();
    corrupted_because(e, "overflow");
    drop((a, b));
}

/// FORMAT.md, "The fingerprint": an implementation written from its description alone
/// (over the layout tree) gives the library's fingerprint.
#[test]
fn fingerprint_follows_format_md_byte_for_byte() {
    use ipc::os::layout::{Shape, TypeLayout};
    struct H(u64);
    impl H {
        fn feed(&mut self, b: u8) {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100000001b3);
        }
        fn num(&mut self, n: usize) {
            (n as u64).to_le_bytes().iter().for_each(|&b| self.feed(b));
        }
        fn str(&mut self, s: &str) {
            self.num(s.len());
            s.bytes().for_each(|b| self.feed(b));
        }
        fn node(&mut self, t: &TypeLayout) {
            let tag = match t.shape {
                Shape::Scalar => 1,
                Shape::Opaque => 2,
                Shape::Array { .. } => 3,
                Shape::Struct { .. } => 4,
            };
            self.feed(tag);
            self.num(t.size);
            self.num(t.align);
            match t.shape {
                Shape::Scalar | Shape::Opaque => self.str(t.name),
                Shape::Array { elem, len } => {
                    self.num(len);
                    self.node(elem);
                }
                Shape::Struct { fields } => {
                    self.str(t.name);
                    self.num(fields.len());
                    for f in fields {
                        self.feed(5);
                        self.str(f.name);
                        self.num(f.offset);
                        self.node(f.layout);
                    }
                }
            }
        }
    }
    fn fp(t: &TypeLayout) -> u64 {
        let mut h = H(0xcbf29ce484222325);
        h.feed(1);
        h.feed(if cfg!(target_endian = "little") {
            b'l'
        } else {
            b'b'
        });
        h.feed(usize::BITS as u8);
        h.node(t);
        let mut z = h.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }
    for t in [
        &Telemetry::LAYOUT,
        &<[[f64; 2]; 3]>::LAYOUT,
        &Pair::<i16>::LAYOUT,
        &Holder::LAYOUT,
        &u64::LAYOUT,
    ] {
        assert_eq!(fp(t), t.fingerprint(), "{}", t.schema());
    }
}

/// FORMAT.md, "Derived offsets": the object may extend past the payload (the bytes after
/// it are ignored), but not end before it.
#[test]
fn the_object_may_extend_past_the_payload() {
    let Some(bin) = reader() else { return };
    let (name, copy) = (unique_name("ext"), unique_name("ext-copy"));
    let _c = [Cleanup::shm(&name), Cleanup::shm(&copy)];
    let a = SharedArray::<u16>::options()
        .dims(&[3])
        .create(&name, |x| x.copy_from_slice(&[7, 8, 9]))
        .unwrap();
    let mut v = std::fs::read(format!("/dev/shm{name}")).unwrap();
    v.extend_from_slice(&[0xAB; 5000]);
    let r = both(bin, &copy, &v, None).unwrap();
    assert!(r.stdout.ends_with("[0]=7\n[1]=8\n[2]=9\n"), "{r:?}");
    assert_eq!(
        SharedArray::<u16>::open(&copy).unwrap().lock().unwrap()[..],
        [7, 8, 9]
    );
    let end = a.info().payload.end;
    let e = both(bin, &copy, &v[..end - 1], Some("past the object")).unwrap_err();
    corrupted_because(e, "past the object");
    drop(a);
}

/// FORMAT.md, "Creator liveness": `/proc/PID/stat`'s command field may hold spaces and `)`,
/// so the fields after it start after the LAST `)`. A real process whose command is
/// `a) S 1 (b` is alive by `creator::liveness`, and dead once SIGKILLed and reaped.
#[test]
fn liveness_reads_proc_stat_after_the_last_paren() {
    use ipc::collections::creator::{liveness, parse_proc_stat, Liveness};
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join("a) S 1 (b");
    std::fs::copy("/bin/sleep", &exe).unwrap();
    let mut child = Command::new(&exe).arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert!(text.contains("(a) S 1 (b)"), "{text}");
    let (state, start) = parse_proc_stat(&text).unwrap();
    assert!(matches!(state, "S" | "R"), "{text}");
    assert_eq!(liveness(pid, start), Liveness::Alive);
    assert_eq!(liveness(pid, start + 1), Liveness::PidReused);
    ipc_testutil::sigkill(pid);
    ipc_testutil::wait_child(&mut child, "sleep", WATCHDOG);
    assert_eq!(liveness(pid, start), Liveness::Dead);
    let _ = std::fs::remove_file(&exe);
}

// ---- Rings (kind 3) -------------------------------------------------------------------------

/// FORMAT.md, "Rings (kind 3)": the C reader accepts the headers of the three ring kinds,
/// tells the two payload layouts apart, and prints the control block (flavour, capacity,
/// counters, who is attached, alive by pid and start time).
#[test]
fn c_reader_reads_ring_headers_and_control_blocks() {
    use ipc::collections::{ByteRing, MpmcRing, SpscRing};
    let Some(bin) = reader() else { return };
    let names = [unique_name("r-s"), unique_name("r-m"), unique_name("r-b")];
    let _c = names.each_ref().map(|n| Cleanup::shm(n));
    let spsc = SpscRing::<u64>::create(&names[0], 16).unwrap();
    let mpmc = MpmcRing::<u32>::create(&names[1], 8).unwrap();
    let bytes = ByteRing::create(&names[2], 256).unwrap();
    let mut p = spsc.producer().unwrap();
    for i in 0..3 {
        assert!(p.try_push(i).unwrap(), "room in the ring");
    }
    let me = std::process::id().to_string();
    let cases = [
        (&names[0], spsc.info(), "spsc-or-bytes", "spsc", "16", "8"),
        (&names[1], mpmc.info(), "mpmc", "mpmc", "8", "4"),
        (
            &names[2],
            bytes.info(),
            "spsc-or-bytes",
            "bytes",
            "256",
            "0",
        ),
    ];
    for (name, info, layout, flavor, cap, esize) in cases {
        let r = read(bin, &[name]);
        assert_eq!(r.code, 0, "{r:?}");
        let p = pairs(&r.stdout);
        assert_eq!(value(&p, "kind"), "3");
        assert_eq!(value(&p, "rank"), "1");
        assert_eq!(value(&p, "dims"), cap);
        assert_eq!(value(&p, "ring_capacity"), cap);
        assert_eq!(value(&p, "control_len"), "1536");
        assert_eq!(value(&p, "control_offset"), info.control.start.to_string());
        assert_eq!(value(&p, "payload_offset"), info.payload.start.to_string());
        assert_eq!(value(&p, "payload_len"), info.payload.len().to_string());
        assert_eq!(value(&p, "ring.layout"), layout, "{r:?}");
        assert_eq!(value(&p, "ring.flavor"), flavor, "{r:?}");
        assert_eq!(value(&p, "ring.capacity"), cap, "{r:?}");
        assert_eq!(value(&p, "ring.elem_size"), esize, "{r:?}");
    }
    // The SPSC ring: three pushed, none popped, this process registered as its producer.
    let r = read(bin, &[&names[0]]);
    let pr = pairs(&r.stdout);
    assert_eq!(
        ["ring.head", "ring.tail", "ring.len"].map(|k| value(&pr, k)),
        ["0", "3", "3"]
    );
    assert_eq!(value(&pr, "ring.producers[0]"), format!("{me} alive"));
    assert!(!r.stdout.contains("ring.consumers["), "{r:?}");
    drop(p);
    let r = read(bin, &[&names[0]]);
    assert!(!r.stdout.contains("ring.producers["), "{r:?}");
    drop((spsc, mpmc, bytes));
}

/// FORMAT.md, "Field rules" for kind 3, each broken once in a checksum-consistent copy of an
/// SPSC ring's header: the library and the C reader both refuse (Corrupted); the MPMC
/// payload layout of the same header is accepted by both.
#[test]
fn ring_header_rules_are_enforced_by_both() {
    use ipc::collections::SpscRing;
    let Some(bin) = reader() else { return };
    let (name, arr, copy) = (unique_name("rh"), unique_name("rh-a"), unique_name("rh-c"));
    let _c = [Cleanup::shm(&name), Cleanup::shm(&arr), Cleanup::shm(&copy)];
    let ring = SpscRing::<u64>::create(&name, 8).unwrap();
    let schema = ring.info().schema.clone();
    let orig = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let ok = rebuild(&orig, &schema, |_| {});
    both(bin, &copy, &ok, None).unwrap();
    // The MPMC layout: 8 stamps, then 8 slots (and the control block's flavour word 2,
    // which the layout must agree with).
    let mut v = rebuild(&orig, &schema, |h| h.payload_len = 8 * 8 + 8 * 8);
    let ctrl = Header::read(&v).unwrap().control_offset as usize;
    v[ctrl + 384..][..4].copy_from_slice(&2u32.to_ne_bytes());
    let r = both(bin, &copy, &v, None).unwrap();
    assert_eq!(value(&pairs(&r.stdout), "ring.layout"), "mpmc");

    type Edit = Box<dyn Fn(&mut Header)>;
    let cases: Vec<(&str, &str, Edit, &str, &str)> = vec![
        (
            "rank 2",
            &schema,
            Box::new(|h| {
                h.rank = 2;
                h.dims[1] = 1;
            }),
            "a ring with a rank other than 1",
            "rank 2, not 1",
        ),
        (
            "dims[0] != ring_capacity",
            &schema,
            Box::new(|h| h.dims[0] = 16),
            "ring dims[0] differs from ring_capacity",
            "differs from ring_capacity",
        ),
        (
            "capacity 12",
            &schema,
            Box::new(|h| {
                h.ring_capacity = 12;
                h.dims[0] = 12;
                h.payload_len = 12 * 8;
            }),
            "not a power of two",
            "not a power of two",
        ),
        (
            "capacity 0",
            &schema,
            Box::new(|h| {
                h.ring_capacity = 0;
                h.dims[0] = 0;
                h.payload_len = 0;
            }),
            "not a power of two",
            "not a power of two",
        ),
        (
            "zero-sized elements",
            "Z(0/1){}",
            Box::new(|h| {
                h.set_type_name("Z");
                h.elem_size = 0;
                h.elem_align = 1;
                h.payload_len = 0;
            }),
            "a ring of zero-sized elements",
            "zero-sized",
        ),
        (
            "payload_len of neither layout",
            &schema,
            Box::new(|h| h.payload_len = 8 * 8 + 8),
            "payload_len is neither ring layout's",
            "neither ring layout",
        ),
        (
            "payload_len overflows",
            &schema,
            Box::new(|h| {
                h.ring_capacity = 1 << 62;
                h.dims[0] = 1 << 62;
                h.payload_len = 64;
            }),
            "ring payload length overflows",
            "overflows",
        ),
    ];
    for (what, schema, edit, c_why, why) in cases {
        let v = rebuild(&orig, schema, edit);
        let e = both(bin, &copy, &v, Some(c_why)).expect_err(what);
        corrupted_because(e, why);
    }
    for len in [0, 48, 1024, 1535, 1537, 2048] {
        let v = rebuild(&orig, &schema, |h| h.control_len = len);
        let e = both(bin, &copy, &v, Some("control_len of a ring is not 1536")).unwrap_err();
        corrupted_because(e, "control_len");
    }
    // ring_capacity in an array.
    let a = SharedArray::<u64>::create(&arr, &[8]).unwrap();
    let orig = std::fs::read(format!("/dev/shm{arr}")).unwrap();
    let v = rebuild(&orig, &a.info().schema, |h| h.ring_capacity = 8);
    let e = both(bin, &copy, &v, Some("ring_capacity set in a non-ring")).unwrap_err();
    corrupted_because(e, "ring capacity 8 in a");
    drop((ring, a));
}

/// The C consumer (`read_segment NAME --consume N`), spawned with its stdout drained by a
/// thread; killed and reaped on drop if still running (a failing test leaves no process).
struct CConsumer {
    child: std::process::Child,
    out: Option<std::thread::JoinHandle<(String, String)>>,
}

impl CConsumer {
    fn spawn(bin: &Path, name: &str, n: u64) -> CConsumer {
        let mut child = Command::new(bin)
            .args([name, "--consume", &n.to_string(), "--timeout-ms", "50000"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut o, mut e) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let out = std::thread::spawn(move || {
            use std::io::Read;
            let (mut a, mut b) = (String::new(), String::new());
            let _ = o.read_to_string(&mut a);
            let _ = e.read_to_string(&mut b);
            (a, b)
        });
        CConsumer {
            child,
            out: Some(out),
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits (watchdog) for it to exit: its exit code and output.
    fn finish(mut self) -> Run {
        let status = ipc_testutil::wait_child(&mut self.child, "C consumer", WATCHDOG);
        let (stdout, stderr) = self.out.take().unwrap().join().unwrap();
        Run {
            code: status.code().expect("C consumer killed by a signal"),
            stdout,
            stderr,
        }
    }
}

impl Drop for CConsumer {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The `msg=` lines of the consumer's output, parsed as u64.
fn messages(out: &str) -> Vec<u64> {
    out.lines()
        .filter_map(|l| l.strip_prefix("msg="))
        .map(|v| v.parse().unwrap())
        .collect()
}

fn attached(pid: i32) -> Vec<ipc::collections::ring::Attached> {
    vec![ipc::collections::ring::Attached { pid, alive: true }]
}

/// Issue 12: a C consumer written from FORMAT.md's "Consuming an SPSC ring, step by step"
/// alone pops 100000 u64 that Rust pushes through a 64-slot ring, in order and complete. It
/// shows in the registry (alive: its start time is right) while it runs and is gone after;
/// it sleeps on the futex while the ring is empty, and its head updates and wakes let the
/// Rust producer, which fills the ring far faster, go on.
#[test]
fn c_consumer_pops_what_a_rust_producer_pushes() {
    use ipc::collections::SpscRing;
    const N: u64 = 100_000;
    let Some(bin) = reader() else { return };
    let name = unique_name("c-spsc");
    let _c = Cleanup::shm(&name);
    let ring = SpscRing::<u64>::create(&name, 64).unwrap();
    let msg = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i;
    let mut c = CConsumer::spawn(bin, &name, N);
    let pid = c.pid();
    // Registered, then asleep on data_futex (nothing is published yet).
    ipc_testutil::wait_for("the C consumer to register and sleep", WATCHDOG, || {
        assert!(c.running(), "C consumer exited early");
        let s = ring.status();
        s.consumers == attached(pid) && s.data_sleepers == 1
    });
    let mut p = ring.producer().unwrap();
    for i in 0..N {
        p.push(msg(i), Some(WATCHDOG)).unwrap();
        if i == N / 2 {
            assert_eq!(ring.status().consumers, attached(pid));
            // Let the consumer drain and fall asleep again mid-stream.
            ipc_testutil::wait_for("the C consumer to sleep again", WATCHDOG, || {
                ring.status().data_sleepers == 1
            });
        }
    }
    let r = c.finish();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = messages(&r.stdout);
    assert_eq!(got.len() as u64, N);
    if let Some(i) = (0..N).find(|&i| got[i as usize] != msg(i)) {
        panic!("message {i}: got {}, want {}", got[i as usize], msg(i));
    }
    let p2 = pairs(&r.stdout);
    assert_eq!(value(&p2, "consumer.registered"), pid.to_string());
    assert_eq!(value(&p2, "consumed"), N.to_string());
    assert_eq!(value(&p2, "end"), "done");
    // Detached: the entry is released, the counters agree, nobody sleeps.
    let s = ring.status();
    assert_eq!(s.consumers, []);
    assert_eq!((s.head, s.tail, s.len), (N, N, Some(0)));
    assert_eq!((s.data_sleepers, s.space_sleepers), (0, 0));
    // A Rust consumer can attach after it (it continues from the shared head).
    let mut rc = ring.consumer().unwrap();
    assert_eq!(p.try_push(7), Ok(true));
    assert_eq!(rc.try_pop(), Ok(Some(7)));
    drop((rc, p));
    drop(ring);
}

/// The C consumer's registration is real: while it is attached a Rust consumer is refused
/// (LimitReached), and while a Rust consumer is attached the C one is (exit 4). When the
/// producer leaves, the C consumer drains what was published and reports disconnected
/// (exit 5). A C consumer killed with SIGKILL shows as dead, and its entry is taken over.
#[test]
fn c_consumer_registration_disconnection_and_death() {
    use ipc::collections::SpscRing;
    let Some(bin) = reader() else { return };
    let name = unique_name("c-spsc-d");
    let _c = Cleanup::shm(&name);
    let ring = SpscRing::<u64>::create(&name, 8).unwrap();

    let rust_consumer = ring.consumer().unwrap();
    let r = CConsumer::spawn(bin, &name, 1).finish();
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("another consumer"), "{r:?}");
    drop(rust_consumer);

    let mut c = CConsumer::spawn(bin, &name, 100);
    let pid = c.pid();
    ipc_testutil::wait_for("the C consumer to register", WATCHDOG, || {
        assert!(c.running(), "C consumer exited early");
        ring.status().consumers == attached(pid)
    });
    match ring.consumer() {
        Err(e) => assert!(matches!(e.kind(), ErrorKind::LimitReached), "{e:?}"),
        Ok(_) => panic!("a second consumer attached beside the C one"),
    }
    let mut p = ring.producer().unwrap();
    for i in 0..5 {
        p.push(i, Some(WATCHDOG)).unwrap();
    }
    drop(p);
    let r = c.finish();
    assert_eq!(r.code, 5, "{r:?}");
    assert_eq!(messages(&r.stdout), [0, 1, 2, 3, 4]);
    assert_eq!(value(&pairs(&r.stdout), "end"), "disconnected");
    assert_eq!(ring.status().consumers, []);

    // With the producer gone for good (released) and nothing left, a new C consumer
    // reports disconnected at once.
    let r = CConsumer::spawn(bin, &name, 1).finish();
    assert_eq!(
        (r.code, value(&pairs(&r.stdout), "end")),
        (5, "disconnected")
    );

    // SIGKILL while attached (asleep: a producer is attached, nothing is published).
    let p = ring.producer().unwrap();
    let mut c = CConsumer::spawn(bin, &name, 1);
    let pid = c.pid();
    ipc_testutil::wait_for("the C consumer to register", WATCHDOG, || {
        assert!(c.running(), "C consumer exited early");
        ring.status().consumers == attached(pid)
    });
    ipc_testutil::sigkill(pid);
    let status = ipc_testutil::wait_child(&mut c.child, "C consumer", WATCHDOG);
    assert!(status.code().is_none(), "{status:?}");
    let s = ring.status();
    assert_eq!(
        s.consumers,
        [ipc::collections::ring::Attached { pid, alive: false }]
    );
    let rust_consumer = ring.consumer().unwrap();
    assert_eq!(ring.status().consumers, attached(std::process::id() as i32));
    drop((rust_consumer, p, c));
    drop(ring);
}

/// Random words in an SPSC ring's control block (a peer with a bug, or a crash mid-write of
/// something that is not the protocol): the C reader prints it and the C consumer refuses
/// it (corrupted counters), waits and times out, or consumes; it never crashes, reads out of
/// bounds (sanitizers where available) or runs past its bounded wait.
#[test]
fn c_reader_and_consumer_survive_random_control_blocks() {
    use ipc::collections::SpscRing;
    let Some(plain) = reader() else { return };
    let bin = sanitized_reader().unwrap_or(plain);
    let (name, copy) = (unique_name("c-fzr"), unique_name("c-fzr-copy"));
    let _c = [Cleanup::shm(&name), Cleanup::shm(&copy)];
    let ring = SpscRing::<u64>::create(&name, 8).unwrap();
    {
        let mut p = ring.producer().unwrap();
        for i in 0..5 {
            assert!(p.try_push(i).unwrap(), "room in the ring");
        }
    }
    let orig = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let ctrl = ring.info().control.clone();
    let mut next = ipc_testutil::xorshift64(0x9e37_79b9_7f4a_7c15);
    let mut codes = std::collections::BTreeMap::new();
    for round in 0..60 {
        let mut v = orig.clone();
        for _ in 0..1 + next() % 4 {
            // A word of the block: the counters, futex words, identity or registry, most
            // often; an edge value or a random one.
            let hot = [0, 128, 256, 264, 384, 392, 400, 512, 520, 1024, 1032];
            let at = if next() % 4 == 0 {
                (next() % 1536) as usize & !7
            } else {
                hot[(next() % hot.len() as u64) as usize]
            };
            let words = [0, 1, 5, 8, 9, u64::MAX, 1 << 63, next(), 1 << 32 | 1];
            let w = words[(next() % words.len() as u64) as usize];
            v[ctrl.start + at..][..8].copy_from_slice(&w.to_ne_bytes());
        }
        write_copy(&copy, &v);
        let r = read(bin, &[&copy]);
        // The identity words and reserved areas are checked (FORMAT.md, "Which ring it
        // is"), by the library as by the reader; the counters are not.
        let lib = ipc::collections::inspect(&copy);
        match r.code {
            0 => assert!(lib.is_ok(), "round {round}: C reads, library {lib:?}"),
            2 => assert!(
                matches!(lib.as_ref().map_err(Error::kind), Err(ErrorKind::Corrupted)),
                "round {round}: C refuses ({r:?}), library {lib:?}"
            ),
            _ => panic!("round {round}: {r:?}"),
        }
        let o = run_with_watchdog(
            Command::new(bin).args([&copy, "--consume", "3", "--timeout-ms", "100"]),
            WATCHDOG,
        );
        let r = Run {
            code: o.status.code().expect("C consumer killed by a signal"),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        assert!(matches!(r.code, 0 | 2 | 4 | 5 | 6), "round {round}: {r:?}");
        assert!(!r.stderr.contains("Sanitizer"), "round {round}: {r:?}");
        assert!(!r.stderr.contains("runtime error"), "round {round}: {r:?}");
        *codes.entry(r.code).or_insert(0) += 1;
    }
    eprintln!("exit codes: {codes:?}");
    // The mutations reach past the identity checks: some rounds consume, some refuse.
    assert!(codes.contains_key(&2) && codes.len() > 1, "{codes:?}");
    drop(ring);
}

// ---- Issue 19: the control block and schema rules, the library and the C reader alike ----

/// `v` with the `u32` or `u64` at `at` set to `x` (native byte order).
fn put(mut v: Vec<u8>, at: usize, x: u64, width: usize) -> Vec<u8> {
    v[at..at + width].copy_from_slice(&x.to_ne_bytes()[..width]);
    v
}

/// FORMAT.md, "Which ring it is" and "Control block": a ready segment's control block is
/// checked by every reader with the same rules (`format::validate_control`, the C reader's
/// `check_ring_control`): each rule broken once, both refuse (Corrupted); the edge cases
/// that are allowed, both accept.
#[test]
fn control_block_rules_are_enforced_by_both() {
    use ipc::collections::{ByteRing, MpmcRing, SpscRing};
    let Some(bin) = reader() else { return };
    let names = ["cb-s", "cb-s64", "cb-m", "cb-b", "cb-a", "cb-s1"].map(unique_name);
    let copy = unique_name("cb-copy");
    let _c = (
        names.each_ref().map(|n| Cleanup::shm(n)),
        Cleanup::shm(&copy),
    );
    let spsc = SpscRing::<u64>::create(&names[0], 8).unwrap();
    let spsc64 = SpscRing::<u64>::create(&names[1], 64).unwrap();
    let mpmc = MpmcRing::<u64>::create(&names[2], 2).unwrap();
    let bytes = ByteRing::create(&names[3], 64).unwrap();
    let arr = SharedArray::<u64>::create(&names[4], &[4]).unwrap();
    let spsc1 = SpscRing::<u64>::create(&names[5], 1).unwrap();
    let image = |n: &str| std::fs::read(format!("/dev/shm{n}")).unwrap();
    let (s, s64, m, b, a) = (
        image(&names[0]),
        image(&names[1]),
        image(&names[2]),
        image(&names[3]),
        image(&names[4]),
    );
    let sc = spsc.info().control.start;
    let ac = arr.info().control.start;

    // Allowed: the smallest SPSC ring (1 slot), an array poisoned (flag 1), a live block.
    both(bin, &copy, &image(&names[5]), None).unwrap();
    both(bin, &copy, &put(a.clone(), ac + 40, 1, 4), None).unwrap();
    both(bin, &copy, &put(s.clone(), sc, 5, 8), None).unwrap(); // tail: not checked here

    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "unknown flavour 9",
            put(s.clone(), sc + 384, 9, 4),
            "flavour word does not match",
            "flavour word 9",
        ),
        (
            "MPMC flavour on the SPSC layout",
            put(s.clone(), sc + 384, 2, 4),
            "flavour word does not match",
            "flavour word 2",
        ),
        (
            "SPSC flavour on the MPMC layout",
            put(m.clone(), mpmc.info().control.start + 384, 1, 4),
            "flavour word does not match",
            "flavour word 1",
        ),
        (
            "control capacity",
            put(s.clone(), sc + 392, 16, 8),
            "capacity differs",
            "capacity 16 differs",
        ),
        (
            "control element size",
            put(s.clone(), sc + 400, 4, 8),
            "element size differs",
            "element size 4 differs",
        ),
        (
            "a byte ring read as SPSC (flavour 1, element size 0)",
            put(b.clone(), bytes.info().control.start + 384, 1, 4),
            "element size differs",
            "element size 0 differs",
        ),
        (
            "a byte ring of u64 elements",
            put(
                put(s64.clone(), spsc64.info().control.start + 384, 3, 4),
                spsc64.info().control.start + 400,
                0,
                8,
            ),
            "not u8(1/1)",
            "a byte ring of elements u64(8/8)",
        ),
        (
            "reserved word after flavour",
            put(s.clone(), sc + 388, 1, 4),
            "reserved bytes",
            "reserved bytes at 388",
        ),
        (
            "the tail line's padding",
            put(s.clone(), sc + 64, 1, 4),
            "reserved bytes",
            "reserved bytes at 64",
        ),
        (
            "the identity line's padding",
            put(s.clone(), sc + 508, 1, 4),
            "reserved bytes",
            "reserved bytes at 508",
        ),
        (
            "a producer entry's reserved bytes",
            put(s.clone(), sc + 512 + 24, 1, 8),
            "registry entry's reserved",
            "reserved bytes at 536",
        ),
        (
            "the last consumer entry's reserved bytes",
            put(s.clone(), sc + 1024 + 15 * 32 + 28, 1, 4),
            "registry entry's reserved",
            "reserved bytes at 1532",
        ),
        (
            "array poisoned flag 2",
            put(a.clone(), ac + 40, 2, 4),
            "poisoned flag is neither",
            "poisoned flag is 2",
        ),
        (
            "array reserved bytes",
            put(a.clone(), ac + 44, 1, 4),
            "reserved bytes are not 0",
            "reserved bytes 44..48",
        ),
    ];
    for (what, v, c_why, why) in cases {
        let e = both(bin, &copy, &v, Some(c_why)).expect_err(what);
        corrupted_because(e, why);
    }

    // Minimum capacities: an MPMC ring of 1 slot, a byte ring of 32 bytes (each header and
    // control block consistent, the checksum fixed up).
    let small_mpmc = {
        let v = rebuild(&m, &mpmc.info().schema, |h| {
            h.ring_capacity = 1;
            h.dims[0] = 1;
            h.payload_len = 8 + 8; // one stamp, one slot
        });
        let c = Header::read(&v).unwrap().control_offset as usize;
        put(v, c + 392, 1, 8)
    };
    let e = both(bin, &copy, &small_mpmc, Some("below the flavour's minimum")).unwrap_err();
    corrupted_because(e, "an MPMC ring of capacity 1, below its minimum 2");
    let small_bytes = {
        let v = rebuild(&b, &bytes.info().schema, |h| {
            h.ring_capacity = 32;
            h.dims[0] = 32;
            h.payload_len = 32;
        });
        let c = Header::read(&v).unwrap().control_offset as usize;
        put(v, c + 392, 32, 8)
    };
    let e = both(
        bin,
        &copy,
        &small_bytes,
        Some("below the flavour's minimum"),
    )
    .unwrap_err();
    corrupted_because(e, "a byte ring of capacity 32, below its minimum 64");
    drop((spsc, spsc64, mpmc, bytes, arr, spsc1));
}

/// FORMAT.md, "The schema string": numbers without leading zeros, every ALIGN a power of
/// two with SIZE a multiple of it, a scalar named after a Rust scalar of that width, every
/// array's size checked for overflow wherever it is in the tree. Each broken once in a
/// value segment (header and checksum consistent): both refuse. A scalar of another name
/// is allowed (named, not read).
#[test]
fn schema_rules_are_enforced_by_both() {
    let Some(bin) = reader() else { return };
    let (name, copy) = (unique_name("sg"), unique_name("sg-copy"));
    let _c = [Cleanup::shm(&name), Cleanup::shm(&copy)];
    let s = Shared::<u64>::create(&name, |v| *v = 7).unwrap();
    let orig = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let forge = |schema: &str, ty: &str, size: u64, align: u64| {
        rebuild(&orig, schema, |h| {
            h.set_type_name(ty);
            h.elem_size = size;
            h.elem_align = align;
            h.payload_len = size;
        })
    };
    let r = both(
        bin,
        &copy,
        &forge("Pt(8/8){x:Foo(8/8)@0}", "Pt", 8, 8),
        None,
    )
    .unwrap();
    assert_eq!(value(&pairs(&r.stdout), "x"), "(Foo, 8 bytes)", "{r:?}");
    for (what, schema, ty, size, align) in [
        ("leading zero in SIZE", "u64(08/8)", "u64", 8, 8),
        (
            "leading zero in an OFFSET",
            "S(8/8){a:u64(8/8)@00}",
            "S",
            8,
            8,
        ),
        ("leading zero in a LEN", "[u8(1/1);08]", "[u8; 8]", 8, 1),
        ("a u64 of 3 bytes", "u64(3/1)", "u64", 3, 1),
        (
            "an AtomicU32 of 8 bytes",
            "S(8/8){a:AtomicU32(8/8)@0}",
            "S",
            8,
            8,
        ),
        ("a u16 aligned to 4", "S(4/4){a:u16(2/4)@0}", "S", 4, 4),
        ("a usize of 3 bytes", "S(3/1){a:usize(3/1)@0}", "S", 3, 1),
        ("a nested alignment of 3", "S(8/8){a:T(6/3){}@0}", "S", 8, 8),
        (
            "a nested size not a multiple of its alignment",
            "S(8/8){a:T(6/4){}@0}",
            "S",
            8,
            8,
        ),
        (
            "an overflowing array nested in a struct",
            "S(8/8){a:[[u64(8/8);4294967296];4294967296]@0}",
            "S",
            8,
            8,
        ),
    ] {
        let e = both(
            bin,
            &copy,
            &forge(schema, ty, size, align),
            Some("does not parse"),
        )
        .expect_err(what);
        corrupted_because(e, "the schema does not parse");
    }
    drop(s);
}

/// FORMAT.md, "The schema string": a field outside the value (or an array longer than it)
/// is not malformed; a reader bounds each access by `payload_len` and skips what lies
/// outside. The C reader names the skipped fields and reads the others.
#[test]
fn fields_outside_the_payload_are_skipped_not_refused() {
    let Some(bin) = reader() else { return };
    let (name, copy) = (unique_name("sk"), unique_name("sk-copy"));
    let _c = [Cleanup::shm(&name), Cleanup::shm(&copy)];
    let s = Shared::<u64>::create(&name, |v| *v = 0x0102_0304_0506_0708).unwrap();
    let orig = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let forge = |schema: &str| rebuild(&orig, schema, |h| h.set_type_name("S"));
    let r = both(
        bin,
        &copy,
        &forge("S(8/8){a:u64(8/8)@4096,b:u8(1/1)@0}"),
        None,
    )
    .unwrap();
    let p = pairs(&r.stdout);
    assert_eq!(
        value(&p, "a"),
        "(u64, 8 bytes: outside the payload, skipped)"
    );
    assert_eq!(
        value(&p, "b"),
        (0x0102_0304_0506_0708u64.to_ne_bytes()[0]).to_string()
    );
    let r = both(
        bin,
        &copy,
        &forge("S(8/8){a:[u8(1/1);1000000000000]@0}"),
        None,
    )
    .unwrap();
    let p = pairs(&r.stdout);
    assert_eq!(
        value(&p, "a[7]"),
        (0x0102_0304_0506_0708u64.to_ne_bytes()[7]).to_string()
    );
    assert_eq!(
        value(&p, "a[8]"),
        "(u8, 1 bytes: outside the payload, skipped)"
    );
    drop(s);
}
