//! `ipc inspect`, `schema`, `diff`, `dump`, `ls` and `rm` run as a separate process
//! (CARGO_BIN_EXE_ipc) on real segments made by `Shared<T>` and `SharedArray<T>`: their output,
//! that they leave segments unchanged, and their exit status and message on corrupted,
//! truncated, half-initialised and foreign objects.

use std::process::{Command, Stdio};
use std::sync::atomic::AtomicU64;

use ipc_collections::format::Header;
use ipc_collections::{Shared, SharedArray, SharedLayout, SharedMutex};
use ipc_core::shm::Shm;
use ipc_testutil::{
    role, run_with_watchdog, spawn_role, unique_name, wait_child, Cleanup, WATCHDOG,
};

/// The derived struct the tests store.
#[derive(SharedLayout)]
#[repr(C)]
struct Stats {
    requests: AtomicU64,
    hist: [u64; 4],
    lock: SharedMutex<u64>,
}

/// Another build of `Stats`: `hist` narrowed, a field added.
#[derive(SharedLayout)]
#[repr(C)]
#[shared_layout(name = "Stats")]
struct StatsV2 {
    requests: AtomicU64,
    hist: [u32; 4],
    errors: AtomicU64,
    lock: SharedMutex<u64>,
}

/// What one run of the tool gave.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `ipc ARGS` with a watchdog (killed and failed after [`WATCHDOG`]).
fn inspect(args: &[&str]) -> Run {
    let o = run_with_watchdog(Command::new(env!("CARGO_BIN_EXE_ipc")).args(args), WATCHDOG);
    Run {
        code: o.status.code().expect("ipc killed by a signal"),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The row `ipc ls` prints for `name` (and that `ls` succeeds, under its header line).
fn list_row(name: &str) -> String {
    let r = inspect(&["ls"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("KIND "), "{}", r.stdout);
    r.stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("{name} not listed:\n{}", r.stdout))
        .to_owned()
}

fn dev_shm(name: &str) -> String {
    format!("/dev/shm{name}")
}

fn make_stats(name: &str) -> Shared<Stats> {
    Shared::<Stats>::create(name, |s| {
        s.hist = [1, 2, 3, 4];
    })
    .unwrap()
}

fn make_grid(name: &str) -> SharedArray<f64> {
    SharedArray::<f64>::options()
        .dims(&[3, 4])
        .create(name, |x| {
            for (i, v) in x.iter_mut().enumerate() {
                *v = i as f64 / 2.0;
            }
        })
        .unwrap()
}

/// Overwrites bytes of the object through a read-write mapping (as a buggy peer would).
fn poke(name: &str, at: usize, f: impl FnOnce(u8) -> u8) {
    let shm = Shm::open(name).unwrap();
    assert!(at < shm.len());
    // SAFETY: at < shm.len(), so the byte is inside the read-write mapping, which lives
    // until `shm` drops at the end of this function; no other thread of this test touches
    // the object meanwhile (its creator's handle only reads the header at open).
    unsafe {
        let p = shm.as_ptr().add(at);
        p.write_volatile(f(p.read_volatile()));
    }
}

#[test]
fn show_prints_every_field_the_tree_and_ok() {
    let name = unique_name("insp-show");
    let _c = Cleanup::shm(&name);
    let s = make_stats(&name);
    let r = inspect(&["inspect", &name]);
    assert_eq!(r.code, 0, "{r:?}");
    let o = &r.stdout;
    let pid = std::process::id();
    for want in [
        format!("name:            {name}"),
        "magic:           ipc-seg\\x00 (ok)".into(),
        "state:           2 (ready)".into(),
        "byte_order:      0x01020304 (this machine's byte order)".into(),
        "version:         1".into(),
        "header_len:      256".into(),
        "kind:            1 (value)".into(),
        "rank:            0".into(),
        "pointer_width:   8".into(),
        format!("creator_pid:     {pid} (alive)"),
        format!("elem_size:       {}", size_of::<Stats>()),
        "schema_offset:   256".into(),
        "control_len:     0".into(),
        "ring_capacity:   0".into(),
        "type_name:       \"Stats\"".into(),
        format!("fingerprint:     {:#018x}", s.info().fingerprint),
        format!("schema:          {}", s.info().schema),
        "  Stats (".into(),
        "  ├── requests @0: AtomicU64 (8/8)".into(),
        "  ├── hist @8: [u64 (8/8); 4]".into(),
        "  └── lock @40: SharedMutex (".into(),
        "      ├── raw @0: PoisonMutex (".into(),
        "      │   ├── raw @0: RawMutex (opaque 40/8)".into(),
        "      │   ├── poisoned @40: AtomicU32 (4/4)".into(),
        "validation:      ok".into(),
    ] {
        assert!(o.contains(&want), "missing {want:?} in\n{o}");
    }
    assert!(o.contains("creation_time:   20"), "{o}");
    drop(s);
}

#[test]
fn array_list_schema_and_read_only() {
    let name = unique_name("insp-arr");
    let _c = Cleanup::shm(&name);
    let a = make_grid(&name);
    let before = std::fs::read(dev_shm(&name)).unwrap();

    let r = inspect(&["inspect", &name]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("kind:            2 (array)"), "{r:?}");
    assert!(r.stdout.contains("dims:            [3, 4]"), "{r:?}");
    assert!(r.stdout.contains("elements:        12"), "{r:?}");
    assert!(r.stdout.contains("control_len:     48"), "{r:?}");

    let r = inspect(&["schema", &name]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "f64(8/8)\n"), "{r:?}");
    let r = inspect(&["schema", "--tree", &name]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "f64 (8/8)\n"), "{r:?}");

    let row = list_row(&name);
    let cols: Vec<&str> = row.split_whitespace().collect();
    let pid = std::process::id();
    assert_eq!(
        cols[..5],
        [
            "segment",
            name.as_str(),
            "0600",
            cols[3],
            &before.len().to_string()
        ],
        "{row}"
    );
    let detail = cols[5..].join(" ");
    assert_eq!(
        detail,
        format!("array f64 [3x4] (8 B each), ready, creator {pid} (alive)"),
        "{row}"
    );

    let r = inspect(&["diff", &name, &name]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("same layout: f64(8/8)"), "{r:?}");
    let r = inspect(&["dump", &name]);
    assert_eq!(r.code, 0, "{r:?}");

    // Nothing the tool did changed a byte (or the size) of the object.
    assert_eq!(std::fs::read(dev_shm(&name)).unwrap(), before);
    drop(a);
}

#[test]
fn diff_names_the_fields_that_differ() {
    let (n1, n2, n3) = (
        unique_name("insp-d1"),
        unique_name("insp-d2"),
        unique_name("insp-d3"),
    );
    let _c = [Cleanup::shm(&n1), Cleanup::shm(&n2), Cleanup::shm(&n3)];
    let s1 = make_stats(&n1);
    let s2 = Shared::<StatsV2>::create(&n2, |_| {}).unwrap();
    let a = make_grid(&n3);

    let r = inspect(&["diff", &n1, &n2]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .starts_with(&format!("ipc: {n1} and {n2} differ (")),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("field `hist`: expected type [u64;4], found [u32;4]"),
        "{r:?}"
    );
    assert!(r.stdout.contains("field `errors`: added"), "{r:?}");
    assert!(
        r.stdout
            .contains("field `lock`: expected offset 40, found "),
        "{r:?}"
    );

    let r = inspect(&["diff", &n1, &n3]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("kind: value segment -> array segment"),
        "{r:?}"
    );
    assert!(r.stdout.contains("type name: Stats -> f64"), "{r:?}");
    drop((s1, s2, a));
}

#[test]
fn every_flipped_header_byte_is_refused() {
    let name = unique_name("insp-flip");
    let _c = Cleanup::shm(&name);
    let a = make_grid(&name);
    for at in (0..256).filter(|b| !(8..12).contains(b)) {
        poke(&name, at, |b| b ^ 0x10);
        let r = inspect(&["inspect", &name]);
        assert_eq!(r.code, 1, "byte {at}: {r:?}");
        let what = if at < 8 {
            "not a segment"
        } else {
            "corrupted segment"
        };
        assert!(r.stderr.contains(what), "byte {at}: {r:?}");
        poke(&name, at, |b| b ^ 0x10);
    }
    // A flipped bit in the schema is caught by the checksum too.
    poke(&name, 257, |b| b ^ 1);
    let r = inspect(&["schema", &name]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("checksum"), "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    let row = list_row(&name);
    assert!(
        row.contains("corrupted") && row.contains("checksum"),
        "{row}"
    );
    poke(&name, 257, |b| b ^ 1);

    // The state word is not covered by the checksum but must be 0..=3.
    poke(&name, 8, |_| 7);
    let r = inspect(&["inspect", &name]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("state word 0x7"), "{r:?}");
    assert!(r.stdout.contains("validation:      CORRUPTED"), "{r:?}");
    poke(&name, 8, |_| 2);
    assert_eq!(inspect(&["inspect", &name]).code, 0);
    drop(a);
}

#[test]
fn truncated_objects_are_refused() {
    let name = unique_name("insp-trunc");
    let _c = Cleanup::shm(&name);
    let mut a = make_grid(&name);
    a.set_unlink_on_drop(false);
    let full = std::fs::metadata(dev_shm(&name)).unwrap().len();
    drop(a);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dev_shm(&name))
        .unwrap();
    for (len, why) in [
        (full - 1, "past the object"),
        (300, "past the object"),
        (100, "smaller than the 256-byte header"),
    ] {
        file.set_len(len).unwrap();
        let r = inspect(&["inspect", &name]);
        assert_eq!(r.code, 1, "{len}: {r:?}");
        assert!(r.stderr.contains(why), "{len}: {r:?}");
    }
    file.set_len(4).unwrap();
    let r = inspect(&["inspect", &name]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("not a segment"), "{r:?}");
    file.set_len(0).unwrap();
    let r = inspect(&["inspect", &name]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("not a segment"), "{r:?}");
    // rm removes any object, a segment or not.
    let r = inspect(&["rm", &name]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, format!("removed shm {name}\n"));
    assert!(!std::path::Path::new(&dev_shm(&name)).exists());
}

#[test]
fn creator_dead_mid_init_is_reported() {
    if role().as_deref() == Some("creator") {
        let name = ipc_testutil::env("SEG");
        let mut s = make_stats(&name);
        s.set_unlink_on_drop(false);
        ipc_testutil::report("created");
        return;
    }
    let name = unique_name("insp-dead");
    let _c = Cleanup::shm(&name);
    let child = spawn_role(
        "creator_dead_mid_init_is_reported",
        "creator",
        &[("SEG", &name)],
    );
    assert_eq!(child.wait_ok(), ["created"]);
    // Put the segment back to "initialising": what a creator killed mid-init leaves.
    poke(&name, 8, |_| 1);
    let r = inspect(&["inspect", &name]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("state:           1 (initialising)"),
        "{r:?}"
    );
    assert!(r.stdout.contains("(dead)"), "{r:?}");
    assert!(r.stderr.contains("died during initialisation"), "{r:?}");
    let row = list_row(&name);
    assert!(
        row.contains("initialising") && row.contains("dead"),
        "{row}"
    );

    let r = inspect(&["rm", &name]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!std::path::Path::new(&dev_shm(&name)).exists());
    let r = inspect(&["inspect", &name]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("not found"), "{r:?}");
}

#[test]
fn foreign_objects_bad_names_and_fifos() {
    let name = unique_name("insp-foreign");
    let _c = Cleanup::shm(&name);
    let shm = Shm::create(&name, 4096).unwrap();
    // SAFETY: the 5 bytes lie inside the fresh 4096-byte read-write mapping, which `shm`
    // keeps alive; nobody else knows the name yet.
    unsafe { shm.as_ptr().copy_from(b"hello".as_ptr(), 5) };
    let r = inspect(&["inspect", &name]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("not a segment"), "{r:?}");
    let r = inspect(&["rm", "--kind", "shm", &name]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!std::path::Path::new(&dev_shm(&name)).exists());
    drop(shm);

    for bad in ["no-slash", "/a/b", ""] {
        let r = inspect(&["inspect", bad]);
        assert_eq!(r.code, 1, "{bad:?}: {r:?}");
        assert!(r.stderr.contains("invalid name"), "{bad:?}: {r:?}");
    }
    let r = inspect(&["inspect"]);
    assert_eq!(r.code, 2, "{r:?}");

    // A FIFO planted in /dev/shm neither blocks the tool nor passes for a segment.
    let fifo = unique_name("insp-fifo");
    let _f = Cleanup::shm(&fifo);
    match Command::new("mkfifo").arg(dev_shm(&fifo)).status() {
        Ok(st) if st.success() => {
            let r = inspect(&["inspect", &fifo]);
            assert_eq!(r.code, 1, "{r:?}");
            assert!(
                r.stderr.contains("not an object of the expected type"),
                "{r:?}"
            );
            let r = inspect(&["ls"]);
            assert_eq!(r.code, 0, "{r:?}");
            assert!(!r.stdout.contains(&fifo), "{r:?}");
        }
        _ => eprintln!("mkfifo not available: FIFO case skipped"),
    }
}

#[test]
fn a_closed_stdout_cuts_the_output_without_a_panic() {
    let name = unique_name("insp-pipe");
    let _c = Cleanup::shm(&name);
    let a = make_grid(&name);
    for args in [vec!["inspect", &name], vec!["ls"], vec!["schema", &name]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ipc"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before the tool writes (like `ipc ls | head -0`).
        drop(child.stdout.take());
        wait_child(&mut child, &format!("ipc {args:?}"), WATCHDOG);
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    drop(a);
}

/// Recomputes the checksum of the segment image `v` (header and the schema it claims), as a
/// creator of another build would write it; leaves it alone if the claimed schema does not
/// fit in `v`.
fn fix_checksum(v: &mut [u8]) {
    let mut h = Header::read(v).unwrap();
    let Some(end) = usize::try_from(h.schema_len)
        .ok()
        .and_then(|n| n.checked_add(256))
        .filter(|&end| end <= v.len())
    else {
        return;
    };
    h.seal(&v[256..end]);
    v[..256].copy_from_slice(&h.to_bytes());
}

/// A zero-sized value type, with a name long enough for the hostile schema that replaces
/// its own below.
#[derive(SharedLayout)]
#[repr(C)]
struct HostileZeroSizedPlaceholder;

/// What other processes write is shown, never obeyed: a type name carrying a terminal
/// escape sequence is printed escaped, and a schema whose walk would never end (a huge
/// array of a zero-sized type, in a valid zero-sized segment) is dumped at once.
#[test]
fn hostile_type_names_and_schemas_are_shown_escaped_and_dumped_in_bounded_time() {
    let (name, copy) = (unique_name("insp-host"), unique_name("insp-host-copy"));
    let (zst, zst_copy) = (unique_name("insp-host-z"), unique_name("insp-host-zc"));
    let _c = [&name, &copy, &zst, &zst_copy].map(|n| Cleanup::shm(n));

    // `Stats` renamed to ESC "[2J!" (clear screen), same length, checksum fixed up. (The
    // type name is not the schema's top-level name, so the copy is also corrupted.)
    let s = make_stats(&name);
    let mut v = std::fs::read(dev_shm(&name)).unwrap();
    assert_eq!(&v[192..197], b"Stats");
    v[192..197].copy_from_slice(b"\x1b[2J!");
    fix_checksum(&mut v);
    std::fs::write(dev_shm(&copy), &v).unwrap();
    for args in [
        vec!["ls"],
        vec!["inspect", &copy],
        vec!["diff", &name, &copy],
    ] {
        let r = inspect(&args);
        assert!(
            !r.stdout.contains('\x1b') && !r.stderr.contains('\x1b'),
            "{args:?}: {r:?}"
        );
    }
    let row = list_row(&copy);
    assert!(
        row.contains("\\u{1b}[2J!") && row.contains("corrupted"),
        "{row}"
    );
    let r = inspect(&["diff", &name, &copy]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("type name \"\\u{1b}[2J!\" is not the schema's top-level name"),
        "{r:?}"
    );

    // A zero-sized value whose schema claims 2^64 - 1 zero-sized elements (the element's
    // name padded to the original schema's length, so the header stays consistent; not
    // the number, which may not have leading zeros).
    let z = Shared::<HostileZeroSizedPlaceholder>::create(&zst, |_| {}).unwrap();
    let len = z.info().schema.len();
    let elem = "E".repeat(len - 30);
    let hostile = format!("[{elem}(0/1){{}};{}]", u64::MAX);
    assert_eq!(hostile.len(), len);
    let mut v = std::fs::read(dev_shm(&zst)).unwrap();
    v[256..256 + len].copy_from_slice(hostile.as_bytes());
    // The type name is the schema's top-level name (FORMAT.md, "Header and schema").
    let mut h = Header::read(&v).unwrap();
    h.set_type_name(&format!("[{elem}; {}]", u64::MAX));
    v[..256].copy_from_slice(&h.to_bytes());
    fix_checksum(&mut v);
    std::fs::write(dev_shm(&zst_copy), &v).unwrap();
    let r = inspect(&["schema", &zst_copy]);
    assert_eq!((r.code, r.stdout.trim()), (0, hostile.as_str()), "{r:?}");
    let r = inspect(&["dump", &zst_copy]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    drop((s, z));
}

/// Random changes to a header and schema, with the checksum fixed up most of the time (a
/// buggy creator of another build): `show` and `schema --tree` report or refuse, and never
/// panic.
#[test]
fn random_consistent_headers_never_panic() {
    let name = unique_name("insp-fz");
    let copy = unique_name("insp-fz-copy");
    let _c = [Cleanup::shm(&name), Cleanup::shm(&copy)];
    let s = make_stats(&name);
    let orig = std::fs::read(dev_shm(&name)).unwrap();
    let schema_len = s.info().schema.len();
    let mut next = ipc_testutil::xorshift64(0x9e37_79b9_7f4a_7c15);
    const ALPHABET: &[u8] = b"0123456789[];:@(){},/ opaque_xyz";
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..150 {
        let mut v = orig.clone();
        for _ in 0..1 + next() % 3 {
            if next() % 3 == 0 {
                let at = (next() % 248) as usize & !7;
                let words = [0, 1, u64::MAX, 1 << 63, next(), next() % 4096];
                v[at..at + 8].copy_from_slice(&words[(next() % 6) as usize].to_ne_bytes());
            } else {
                let at = 256 + (next() % schema_len as u64) as usize;
                v[at] = ALPHABET[(next() % ALPHABET.len() as u64) as usize];
            }
        }
        if round % 4 != 0 {
            fix_checksum(&mut v);
        }
        std::fs::write(dev_shm(&copy), &v).unwrap();
        for args in [
            vec!["inspect", &copy],
            vec!["schema", "--tree", &copy],
            vec!["dump", "--max", "20", &copy],
        ] {
            let r = inspect(&args);
            assert!(matches!(r.code, 0 | 1), "round {round} {args:?}: {r:?}");
            assert!(!r.stderr.contains("panicked"), "round {round}: {r:?}");
            seen.insert(r.code);
        }
    }
    assert!(seen.contains(&0) && seen.contains(&1), "{seen:?}");
    drop(s);
}

#[test]
fn dump_prints_array_elements_and_struct_fields() {
    let (n1, n2) = (unique_name("insp-dump-a"), unique_name("insp-dump-s"));
    let _c = [Cleanup::shm(&n1), Cleanup::shm(&n2)];
    let a = make_grid(&n1);
    let s = make_stats(&n2);
    s.requests.store(41, std::sync::atomic::Ordering::Relaxed);
    *s.lock.lock().unwrap() = 7;

    let r = inspect(&["dump", &n1]);
    assert_eq!(r.code, 0, "{r:?}");
    let want: String = (0..12)
        .map(|k| format!("[{},{}] = {}\n", k / 4, k % 4, k as f64 / 2.0))
        .collect();
    assert_eq!(r.stdout, want);
    let r = inspect(&["dump", "--max", "5", &n1]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.ends_with("[1,0] = 2\n... 7 more (--max 5)\n"),
        "{r:?}"
    );

    let r = inspect(&["dump", &n2]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "requests = 41\nhist[0] = 1\nhist[1] = 2\nhist[2] = 3\nhist[3] = 4\nlock.raw.poisoned = 0\nlock.raw.reserved = 0\nlock.data = 7\n"
    );
    let r = inspect(&["dump", "--max", "2", &n2]);
    assert_eq!(
        r.stdout,
        "requests = 41\nhist[0] = 1\n... stopped at --max 2\n"
    );

    // Not ready: the payload is not dumped.
    poke(&n2, 8, |_| 1);
    let r = inspect(&["dump", &n2]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert!(r.stderr.contains("not ready (state initialising)"), "{r:?}");
    poke(&n2, 8, |_| 2);
    drop((a, s));
}

/// `inspect --json` carries what docs/ipc-json.md documents: the header under FORMAT.md's
/// names, the layout tree, validation, creator liveness, and who maps the object.
#[test]
fn inspect_json_is_the_documented_document() {
    let name = unique_name("insp-json");
    let _c = Cleanup::shm(&name);
    let s = make_stats(&name);
    let r = inspect(&["inspect", "--json", &name]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let pid = std::process::id();
    assert_eq!(v["version"], 1);
    assert_eq!(v["kind"], "segment");
    assert_eq!(v["name"], name.as_str());
    assert_eq!(v["validation"], "ok");
    assert_eq!(v["creator"], "alive");
    assert_eq!(v["schema"], s.info().schema.as_str());
    let h = &v["header"];
    assert_eq!(h["state_name"], "ready");
    assert_eq!(h["kind_name"], "value");
    assert_eq!(h["creator_pid"], pid);
    assert_eq!(h["type_name"], "Stats");
    assert_eq!(h["elem_size"], size_of::<Stats>());
    assert_eq!(
        h["fingerprint"],
        format!("{:#018x}", s.info().fingerprint).as_str()
    );
    assert!(v["mapped_by"]["pids"]
        .as_array()
        .unwrap()
        .contains(&pid.into()));
    let layout = &v["layout"];
    assert_eq!(
        (&layout["name"], &layout["shape"]),
        (&"Stats".into(), &"struct".into())
    );
    let f = &layout["fields"];
    assert_eq!(f[0]["name"], "requests");
    assert_eq!(f[0]["type"]["name"], "AtomicU64");
    assert_eq!(f[1]["name"], "hist");
    assert_eq!(f[1]["offset"], 8);
    assert_eq!(f[1]["type"]["shape"], "array");
    assert_eq!(f[1]["type"]["len"], 4);
    assert_eq!(f[1]["type"]["elem"]["name"], "u64");
    assert_eq!(f[2]["type"]["fields"][0]["name"], "raw");

    // Not ready: the document says why, and so does the exit message.
    poke(&name, 8, |_| 1);
    let r = inspect(&["inspect", "--json", &name]);
    assert_eq!(r.code, 1, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["validation"], "not-ready");
    assert_eq!(v["problem"], "the creator is still initialising it");
    assert!(
        r.stderr
            .contains("not ready: the creator is still initialising it"),
        "{r:?}"
    );
    poke(&name, 8, |_| 2);
    drop(s);
}
