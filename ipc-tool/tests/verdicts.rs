//! One validator (issue 19): the openers of `ipc-collections`, `ipc inspect` and `ipc dump`
//! (CARGO_BIN_EXE_ipc) and the C reader of FORMAT.md (`readers/c/read_segment.c`) refuse
//! the same segments. The same damaged copies of real segments (the header corruptions of
//! the header fuzz and of `tests/format_c_reader.rs`, checksum fixed up most of the time so
//! that the checks behind it are reached, and control-block words of rings and arrays) go
//! to each, and their verdicts are compared. Plus the cases the issue found: `inspect` said
//! "ok" for a ring every opener refuses, and `dump` refused values FORMAT.md says a reader
//! bounds and skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use ipc_collections::format::{self, Header, HEADER_LEN};
use ipc_collections::{
    ByteRing, Error, ErrorKind, MpmcRing, Shared, SharedArray, SharedLayout, SpscRing,
};
use ipc_testutil::{run_with_watchdog, unique_name, Cleanup, WATCHDOG};

#[derive(SharedLayout)]
#[repr(C)]
struct Point {
    x: f32,
    y: f32,
    hits: u64,
}

/// The C reader, compiled once; `None` (with a note) without a C compiler.
fn reader() -> Option<&'static Path> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| ipc_testutil::c_reader::build(Path::new(env!("CARGO_TARGET_TMPDIR"))))
        .as_deref()
}

/// Exit status and output of a program run with a watchdog.
fn run(program: &Path, args: &[&str]) -> (i32, String, String) {
    let o = run_with_watchdog(Command::new(program).args(args), WATCHDOG);
    (
        o.status.code().expect("killed by a signal"),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ipc(args: &[&str]) -> (i32, String, String) {
    run(Path::new(env!("CARGO_BIN_EXE_ipc")), args)
}

/// A verdict: accepted, or refused (corrupted or not a segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Refused,
}

/// The library's verdict from an error (anything but corrupted / not a segment is a
/// failure of the test: a copy is never another kind of error to an untyped open).
fn library(r: &Result<ipc_collections::SegmentInfo, Error>) -> Verdict {
    match r.as_ref().map_err(Error::kind) {
        Ok(_) => Verdict::Ok,
        Err(ErrorKind::Corrupted | ErrorKind::WrongType) => Verdict::Refused,
        Err(k) => panic!("library: unexpected {k:?}"),
    }
}

/// The typed opener's verdict: it refuses (Corrupted, or WrongType without a segment
/// header) exactly what the untyped open refuses; on a valid copy it may still find
/// another flavour or type (WrongType naming a kind, LayoutMismatch): that is "valid".
fn opener<T>(r: Result<T, Error>) -> Verdict {
    match r {
        Ok(_) => Verdict::Ok,
        Err(e) => match e.kind() {
            ErrorKind::Corrupted => Verdict::Refused,
            ErrorKind::WrongType if e.to_string().contains("no segment header") => Verdict::Refused,
            ErrorKind::WrongType | ErrorKind::LayoutMismatch => Verdict::Ok,
            k => panic!("opener: unexpected {k:?} ({e})"),
        },
    }
}

/// What each reader says of the object `copy` (of `kind`, as its seed was).
fn verdicts(bin: &Path, copy: &str, seed: usize) -> Vec<(&'static str, Verdict)> {
    let t = Duration::from_millis(200);
    let lib = ipc_collections::inspect_timeout(copy, t);
    let typed = match seed {
        0 => opener(SpscRing::<u64>::options().timeout(t).open(copy)),
        1 => opener(MpmcRing::<u32>::options().timeout(t).open(copy)),
        2 => opener(ByteRing::options().timeout(t).open(copy)),
        3 => opener(SharedArray::<f64>::options().timeout(t).open(copy)),
        _ => opener(Shared::<Point>::options().timeout(t).open(copy)),
    };
    let (code, out, _) = ipc(&["inspect", copy]);
    let tool = match code {
        0 if out.contains("validation:      ok") => Verdict::Ok,
        1 if out.contains("validation:      CORRUPTED")
            || out.contains("validation:      not a segment") =>
        {
            Verdict::Refused
        }
        _ => panic!("ipc inspect {copy}: exit {code}\n{out}"),
    };
    let (code, out, err) = run(bin, &[copy, "--max", "4"]);
    let c = match code {
        0 => Verdict::Ok,
        2 => Verdict::Refused,
        _ => panic!("C reader {copy}: exit {code}\n{out}\n{err}"),
    };
    let mut v = vec![
        ("inspect()", library(&lib)),
        ("typed open", typed),
        ("ipc inspect", tool),
        ("C reader", c),
    ];
    if seed >= 3 {
        let (code, _, err) = ipc(&["dump", "--max", "4", copy]);
        v.push((
            "ipc dump",
            match code {
                0 => Verdict::Ok,
                1 if err.contains("corrupted segment") || err.contains("not a segment") => {
                    Verdict::Refused
                }
                _ => panic!("ipc dump {copy}: exit {code}: {err}"),
            },
        ));
    }
    v
}

/// The header checksum of `v` recomputed over the schema it claims (as a creator of another
/// build writes it), if that schema fits in `v`.
fn reseal(v: &mut [u8]) {
    let mut h = Header::read(v).unwrap();
    if let Some(n) = format::claimed_schema_len(v).filter(|&n| HEADER_LEN + n <= v.len()) {
        h.seal(&v[HEADER_LEN..HEADER_LEN + n]);
        v[..HEADER_LEN].copy_from_slice(&h.to_bytes());
    }
}

#[test]
fn every_reader_gives_the_same_verdict() {
    let Some(bin) = reader() else { return };
    let names = ["v-spsc", "v-mpmc", "v-bytes", "v-arr", "v-val"].map(unique_name);
    let copy = unique_name("v-copy");
    let _c = (
        names.each_ref().map(|n| Cleanup::shm(n)),
        Cleanup::shm(&copy),
    );
    let spsc = SpscRing::<u64>::create(&names[0], 8).unwrap();
    {
        let mut p = spsc.producer().unwrap();
        for i in 0..3 {
            assert!(p.try_push(i).unwrap(), "room in the ring");
        }
    }
    let mpmc = MpmcRing::<u32>::create(&names[1], 8).unwrap();
    let bytes = ByteRing::create(&names[2], 64).unwrap();
    let arr = SharedArray::<f64>::create(&names[3], &[4, 2]).unwrap();
    let val = Shared::<Point>::create(&names[4], |p| p.hits = 3).unwrap();
    let infos = [
        spsc.info(),
        mpmc.info(),
        bytes.info(),
        arr.info(),
        val.info(),
    ];
    let images: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(format!("/dev/shm{n}")).unwrap())
        .collect();
    // Intact copies: every reader accepts.
    for (seed, img) in images.iter().enumerate() {
        std::fs::write(format!("/dev/shm{copy}"), img).unwrap();
        for (who, v) in verdicts(bin, &copy, seed) {
            assert_eq!(v, Verdict::Ok, "{who} on an intact copy of {}", names[seed]);
        }
    }
    let mut next = ipc_testutil::xorshift64(ipc_testutil::test_seed());
    // IPC_TEST_KILLS (the on-demand size of the random loops) raises the count.
    let rounds = ipc_testutil::kill_count(1000);
    let (mut agreed, mut refused) = ([0usize; 5], [0usize; 5]);
    for round in 0..rounds {
        let s = round % images.len();
        let mut v = images[s].clone();
        let ctrl = infos[s].control.clone();
        for _ in 0..1 + next() % 3 {
            match next() % 4 {
                // A header word set to an edge value (the state word is left alone: every
                // copy is ready, so no reader waits).
                0 => {
                    let at = (next() % 248) as usize & !7;
                    let w = [0, 1, u64::MAX, 1 << 63, next(), next() % 4096, 8, 64];
                    let w = w[(next() % w.len() as u64) as usize];
                    if at != 8 {
                        v[at..at + 8].copy_from_slice(&w.to_ne_bytes());
                    }
                }
                // A flipped header bit.
                1 => {
                    let at = (next() % 248) as usize;
                    if !(8..12).contains(&at) {
                        v[at] ^= 1 << (next() % 8);
                    }
                }
                // A control-block word: the identity words, the reserved areas and the
                // registry of a ring, the poisoned flag and reserved word of an array.
                _ if !ctrl.is_empty() => {
                    let hot: &[usize] = if ctrl.len() == 48 {
                        &[40, 44]
                    } else {
                        &[
                            384, 388, 392, 396, 400, 404, 8, 140, 300, 420, 536, 1052, 1528,
                        ]
                    };
                    let at = if next() % 4 == 0 {
                        (next() as usize % ctrl.len()) & !3
                    } else {
                        hot[(next() % hot.len() as u64) as usize]
                    };
                    let w = [0u32, 1, 2, 3, 9, 16, 64, u32::MAX, next() as u32];
                    let w = w[(next() % w.len() as u64) as usize];
                    v[ctrl.start + at..][..4].copy_from_slice(&w.to_ne_bytes());
                }
                _ => {}
            }
        }
        if round % 4 != 0 {
            reseal(&mut v);
        }
        std::fs::write(format!("/dev/shm{copy}"), &v).unwrap();
        let got = verdicts(bin, &copy, s);
        let first = got[0].1;
        assert!(
            got.iter().all(|&(_, v)| v == first),
            "round {round} ({}): {got:?}\nheader: {:?}\ncontrol: {:?}",
            names[s],
            Header::read(&v),
            &v[ctrl.clone()],
        );
        agreed[s] += 1;
        refused[s] += usize::from(first == Verdict::Refused);
    }
    println!(
        "{rounds} damaged copies, every reader agreed on each: refused {refused:?}, \
         accepted {:?} (spsc, mpmc, bytes, array, value)",
        std::array::from_fn::<usize, 5, _>(|i| agreed[i] - refused[i])
    );
    // Both verdicts occur for every seed: the damage reaches past the first checks.
    for i in 0..5 {
        assert!(
            refused[i] > 0 && refused[i] < agreed[i],
            "{}: {refused:?}",
            names[i]
        );
    }
    drop((spsc, mpmc, bytes, arr, val));
}

/// The case: a ring whose flavour word is unknown (`u32 9` at `control_offset +
/// 384`) was "ok" to `ipc inspect` while every opener refused it. Now `inspect`, `ls` and
/// the openers say corrupted, naming the flavour word.
#[test]
fn an_unknown_ring_flavour_is_corrupted_to_the_tool_and_the_openers() {
    let (name, copy) = (unique_name("v-fl"), unique_name("v-fl-copy"));
    let _c = [Cleanup::shm(&name), Cleanup::shm(&copy)];
    let ring = SpscRing::<u64>::create(&name, 8).unwrap();
    let mut v = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let at = ring.info().control.start + 384;
    v[at..at + 4].copy_from_slice(&9u32.to_ne_bytes());
    std::fs::write(format!("/dev/shm{copy}"), &v).unwrap();

    let (code, out, err) = ipc(&["inspect", &copy]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("validation:      CORRUPTED: the control block's flavour word 9"),
        "{out}"
    );
    let (code, out, _) = ipc(&["ls"]);
    assert_eq!(code, 0);
    let row = out.lines().find(|l| l.contains(&copy)).expect("listed");
    assert!(
        row.contains("corrupted") && row.contains("flavour word 9"),
        "{row}"
    );
    for e in [
        SpscRing::<u64>::open(&copy).map(|_| ()).unwrap_err(),
        ipc_collections::inspect(&copy).map(|_| ()).unwrap_err(),
        ipc_collections::ring::inspect(&copy)
            .map(|_| ())
            .unwrap_err(),
    ] {
        match e.kind() {
            ErrorKind::Corrupted => assert!(
                e.detail().is_some_and(|why| why.contains(
                    "flavour word 9 does not match the header's SPSC or byte ring layout"
                )),
                "{e}"
            ),
            k => panic!("{k:?}"),
        }
    }
    drop(ring);
}

/// `ipc dump` bounds each field by the payload and skips what lies outside (FORMAT.md, "The
/// schema string"), as the C reader does: a field past the value, or an array longer than
/// it, is named and skipped, the other fields read. It used to refuse the segment ("field a
/// lies outside its element") that `inspect` accepts.
#[test]
fn dump_skips_fields_outside_the_payload() {
    let (name, copy) = (unique_name("v-dump"), unique_name("v-dump-copy"));
    let _c = [Cleanup::shm(&name), Cleanup::shm(&copy)];
    let s = Shared::<u64>::create(&name, |v| *v = u64::from_ne_bytes(*b"ABCDEFGH")).unwrap();
    let orig = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let payload = s.info().payload.start;
    // Both schemas are shorter than 64 - 8 bytes more than u64's: the payload stays at 320.
    for (schema, want) in [
        (
            "S(8/8){a:u64(8/8)@4096,b:u8(1/1)@0}",
            &["a = (u64, 8 bytes: outside the payload, skipped)", "b = 65"][..],
        ),
        (
            "S(8/8){a:[u8(1/1);1000000000000]@0}",
            &[
                "a[7] = 72",
                "a[8] = (u8, 1 bytes: outside the payload, skipped)",
            ][..],
        ),
    ] {
        let mut v = orig.clone();
        let mut h = Header::read(&v).unwrap();
        h.schema_len = schema.len() as u64;
        h.set_type_name("S");
        h.seal(schema.as_bytes());
        v[..HEADER_LEN].copy_from_slice(&h.to_bytes());
        v[HEADER_LEN..HEADER_LEN + schema.len()].copy_from_slice(schema.as_bytes());
        assert_eq!(
            payload,
            (HEADER_LEN + schema.len()).next_multiple_of(64),
            "{schema}"
        );
        std::fs::write(format!("/dev/shm{copy}"), &v).unwrap();
        ipc_collections::inspect(&copy).unwrap();
        let (code, out, err) = ipc(&["dump", "--max", "10", &copy]);
        assert_eq!(code, 0, "{schema}: {out}{err}");
        for line in want {
            assert!(
                out.lines().any(|l| l == *line),
                "{schema}: no {line:?} in\n{out}"
            );
        }
    }
    drop(s);
}
