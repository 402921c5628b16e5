//! `ipc array create|show|set` (CARGO_BIN_EXE_ipc) for several element types, checked
//! against `SharedArray<T>` in this process: the tool never needs to be told the type of an
//! array it reads or writes. Every run of the tool has a watchdog; every array is removed
//! also when a test fails.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use ipc_collections::{SharedArray, SharedLayout};
use ipc_testutil::{run_with_watchdog, unique_name, Cleanup, WATCHDOG};
use serde_json::{json, Value};

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `ipc ARGS` with a watchdog.
fn ipc(args: &[&str]) -> Run {
    let o = run_with_watchdog(Command::new(env!("CARGO_BIN_EXE_ipc")).args(args), WATCHDOG);
    Run {
        code: o.status.code().expect("ipc killed by a signal"),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn ipc_ok(args: &[&str]) -> String {
    let r = ipc(args);
    assert_eq!(r.code, 0, "ipc {args:?}: {r:?}");
    r.stdout
}

fn show_json(name: &str) -> Value {
    serde_json::from_str(&ipc_ok(&["array", "show", name, "--json"])).expect("JSON")
}

#[test]
fn create_show_and_set_for_several_element_types() {
    let names: Vec<String> = (0..4).map(|_| unique_name("tool-arr")).collect();
    let _c: Vec<Cleanup> = names.iter().map(|n| Cleanup::shm(n)).collect();
    let [f, i, u, a] = [&names[0], &names[1], &names[2], &names[3]];

    // f64, 2x3: created by the tool, read and written by a typed Rust handle.
    assert_eq!(
        ipc_ok(&["array", "create", f, "--type", "f64", "--dims", "2,3", "--fill", "0.5"]),
        format!("created array {f} of f64 [2, 3]\n")
    );
    ipc_ok(&["array", "set", f, "1,2", "-7.25"]);
    let grid = SharedArray::<f64>::open(f).unwrap();
    assert_eq!(grid.dims(), [2, 3]);
    assert_eq!(grid.get(&[1, 2]).unwrap(), -7.25);
    assert_eq!(grid.get(&[0, 0]).unwrap(), 0.5);
    grid.set(&[0, 1], f64::NAN).unwrap();
    assert_eq!(
        ipc_ok(&["array", "show", f]),
        "f64 [2, 3]\n[[0.5, NaN, 0.5], [0.5, 0.5, -7.25]]\n"
    );
    assert_eq!(
        show_json(f),
        json!({"version": 1, "name": f, "type": "f64", "dims": [2, 3],
               "values": [0.5, "NaN", 0.5, 0.5, 0.5, -7.25]})
    );
    drop(grid);

    // i8, negative values and the type's limits.
    ipc_ok(&[
        "array", "create", i, "--type", "i8", "--dims", "3", "--fill", "-1",
    ]);
    ipc_ok(&["array", "set", i, "0", "-128"]);
    ipc_ok(&["array", "set", i, "2", "127"]);
    assert_eq!(show_json(i)["values"], json!([-128, -1, 127]));
    let r = ipc(&["array", "set", i, "1", "128"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        r.stderr,
        format!("ipc: parse {i:?}: invalid argument: \"128\" is not a value of type i8\n")
    );
    assert_eq!(SharedArray::<i8>::open(i).unwrap().get(&[1]).unwrap(), -1);

    // u64 made by a Rust program, 2x2x2: shown by the tool without naming the type.
    let mut cube = SharedArray::<u64>::options()
        .dims(&[2, 2, 2])
        .create(u, |x| {
            for (k, v) in x.iter_mut().enumerate() {
                *v = u64::MAX - k as u64;
            }
        })
        .unwrap();
    cube.set_unlink_on_drop(false);
    ipc_ok(&["array", "set", u, "0,0,1", "42"]);
    assert_eq!(cube.get(&[0, 0, 1]).unwrap(), 42);
    let v = show_json(u);
    assert_eq!((&v["type"], &v["dims"]), (&json!("u64"), &json!([2, 2, 2])));
    assert_eq!(v["values"][0], json!(u64::MAX));
    assert_eq!(v["values"][1], json!(42));
    assert!(
        ipc_ok(&["array", "show", u]).starts_with("u64 [2, 2, 2]\n[[[18446744073709551615, 42], [")
    );
    drop(cube);

    // An atomic element type.
    ipc_ok(&[
        "array",
        "create",
        a,
        "--type",
        "AtomicU32",
        "--dims",
        "4",
        "--fill",
        "9",
    ]);
    ipc_ok(&["array", "set", a, "3", "4000000000"]);
    let counters = SharedArray::<AtomicU32>::open(a).unwrap();
    counters.lock().unwrap()[1].fetch_add(1, Ordering::Relaxed);
    assert_eq!(show_json(a)["values"], json!([9, 10, 9, 4_000_000_000u32]));
    drop(counters);

    // Wrong index, wrong rank, an existing name: errors that name the array and the reason.
    let r = ipc(&["array", "set", f, "2,0", "1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "{f:?}: invalid argument: index [2, 0] is outside dims [2, 3]"
        )),
        "{r:?}"
    );
    let r = ipc(&["array", "set", f, "1", "1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("has 1 components, but the array has rank 2"),
        "{r:?}"
    );
    let r = ipc(&["array", "create", f, "--type", "u8", "--dims", "1"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!("{f:?}: already exists")),
        "{r:?}"
    );
    // Bad usage: an unknown type, dims that are not numbers.
    assert_eq!(
        ipc(&["array", "create", "/ipct-x", "--type", "u128", "--dims", "1"]).code,
        2
    );
    assert_eq!(
        ipc(&["array", "create", "/ipct-x", "--type", "u8", "--dims", "a"]).code,
        2
    );

    // Everything the tool created is still there after it exited.
    for n in &names {
        assert!(
            std::path::Path::new(&format!("/dev/shm{n}")).exists(),
            "{n}"
        );
    }
}

#[derive(SharedLayout, Clone, Copy)]
#[repr(C)]
struct Point {
    x: f32,
    y: f32,
}

#[test]
fn arrays_of_structs_and_other_kinds_are_refused_with_the_reason() {
    let (pts, val, missing) = (
        unique_name("tool-arr-s"),
        unique_name("tool-arr-v"),
        unique_name("tool-arr-m"),
    );
    let _c = [Cleanup::shm(&pts), Cleanup::shm(&val)];
    let p = SharedArray::<Point>::create(&pts, &[2]).unwrap();
    let r = ipc(&["array", "show", &pts]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("unknown element type \"Point\""), "{r:?}");
    // `dump` still reads it.
    assert_eq!(
        ipc_ok(&["dump", &pts]),
        "[0].x = 0\n[0].y = 0\n[1].x = 0\n[1].y = 0\n"
    );
    let v = ipc_collections::Shared::<u64>::create(&val, |x| *x = 1).unwrap();
    let r = ipc(&["array", "show", &val]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("not an object of the expected type"),
        "{r:?}"
    );
    let r = ipc(&["array", "show", &missing]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!("{missing:?}: not found")),
        "{r:?}"
    );
    drop((p, v));
}
