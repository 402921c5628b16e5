//! Runs the Python reader printed in FORMAT.md (NumPy over an mmap of /dev/shm/NAME)
//! against an array this test creates, so the document stays true. Skips (passes with a
//! note) when python3 or numpy is missing, and fails instead where `IPC_REQUIRE_READERS=1`
//! (set by `.ci/run`, so CI never passes without running the reader).

use std::process::{Command, Stdio};

use ipc::collections::format::Header;
use ipc::collections::SharedArray;
use ipc_testutil::{run_with_watchdog, unique_name, Cleanup, WATCHDOG};

/// True if `python3` imports numpy; otherwise [`ipc_testutil::missing_reader`] (a note, or a
/// failure in CI).
fn python_with_numpy() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import numpy"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match found {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            let why = why.lines().last().unwrap_or("import numpy failed");
            ipc_testutil::missing_reader("numpy", why);
            false
        }
        Err(e) => {
            ipc_testutil::missing_reader("python3", &e.to_string());
            false
        }
    }
}

/// The first ```python block of FORMAT.md.
fn reader_from_format_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/FORMAT.md");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find("```python\n").expect("a python block") + "```python\n".len();
    let len = text[start..].find("```").expect("block end");
    text[start..start + len].to_owned()
}

#[test]
fn python_reader_in_format_md_reads_an_array() {
    let code = reader_from_format_md();
    if !python_with_numpy() {
        return;
    }
    let name = unique_name("py");
    let _c = Cleanup::shm(&name);
    let opts = SharedArray::<f64>::options().dims(&[2, 3]).mode(0o600);
    let a = opts
        .create(&name, |x| {
            for (i, v) in x.iter_mut().enumerate() {
                *v = i as f64 * 1.5;
            }
        })
        .unwrap();
    let out = run_with_watchdog(Command::new("python3").args(["-c", &code, &name]), WATCHDOG);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("f64 [2, 3] f64(8/8)"), "{stdout}");
    assert!(stdout.contains("[[0.  1.5 3. ]"), "{stdout}");
    assert!(stdout.contains("[4.5 6.  7.5]]"), "{stdout}");

    // The same segment as written on a machine of the other byte order (byte-order mark
    // swapped, checksum made to match): refused, not misread.
    let other = unique_name("py");
    let _c2 = Cleanup::shm(&other);
    let mut bytes = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let mut h = Header::read(&bytes).unwrap();
    h.byte_order = h.byte_order.swap_bytes();
    h.seal(&bytes[256..256 + h.schema_len as usize]);
    bytes[..256].copy_from_slice(&h.to_bytes());
    std::fs::write(format!("/dev/shm{other}"), &bytes).unwrap();
    let out = run_with_watchdog(
        Command::new("python3").args(["-c", &code, &other]),
        WATCHDOG,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted the other byte order");
    assert!(stderr.contains("other byte order"), "{stderr}");

    // An array whose control block is not 48 bytes (FORMAT.md, "Control block"): refused,
    // as by the library and the C reader (format_c_reader.rs).
    let mut bytes = std::fs::read(format!("/dev/shm{name}")).unwrap();
    let mut h = Header::read(&bytes).unwrap();
    h.control_len = 41;
    h.seal(&bytes[256..256 + h.schema_len as usize]);
    bytes[..256].copy_from_slice(&h.to_bytes());
    std::fs::write(format!("/dev/shm{other}"), &bytes).unwrap();
    let out = run_with_watchdog(
        Command::new("python3").args(["-c", &code, &other]),
        WATCHDOG,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted control_len 41");
    assert!(
        stderr.contains("control_len of an array is not 48"),
        "{stderr}"
    );
    assert!(matches!(
        ipc::collections::inspect(&other),
        Err(e) if matches!(e.kind(), ipc::ErrorKind::Corrupted)
    ));
    drop(a);
}

/// The Python reader reads arrays only: a ring segment (kind 3, whose payload holds slots,
/// only some of them messages) and a value (kind 1) are named and refused, never printed
/// as an array.
#[test]
fn python_reader_in_format_md_refuses_rings_and_values() {
    let code = reader_from_format_md();
    if !python_with_numpy() {
        return;
    }
    let (ring_name, value_name) = (unique_name("py-ring"), unique_name("py-val"));
    let _c = [Cleanup::shm(&ring_name), Cleanup::shm(&value_name)];
    let ring = ipc::SpscRing::<f64>::create(&ring_name, 8).unwrap();
    let mut p = ring.producer().unwrap();
    assert!(p.try_push(1.5).unwrap(), "room in the ring");
    let value = ipc::Shared::<u64>::create(&value_name, |v| *v = 7).unwrap();
    for (name, want) in [
        (&ring_name, "a ring segment (kind 3), not an array"),
        (&value_name, "a value segment (kind 1), not an array"),
    ] {
        let out = run_with_watchdog(Command::new("python3").args(["-c", &code, name]), WATCHDOG);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(want), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    drop(p);
    drop((ring, value));
}
