//! What posix_ipc's users do (issue 11), across real processes: objects under fresh
//! unique names (`O_CREX` with no name), resizing a plain shm object (`ftruncate`), and a
//! queue notification that runs a closure on a thread (`request_notification(callable)`).

use std::collections::HashSet;
use std::sync::mpsc;
use std::time::Duration;

use ipc_core::mq::MessageQueue;
use ipc_core::name::{self, NameKind};
use ipc_core::sem::NamedSemaphore;
use ipc_core::shm::{self, Shm};
use ipc_core::{Error, ErrorKind};
use ipc_testutil::{env, report, role, spawn_role, unique_name, Cleanup};

/// The one place this file reads an error's kind (the error types are being merged).
fn kind(e: &Error) -> ErrorKind {
    e.kind()
}

// ---- unique names ----

#[test]
fn unique_objects_of_every_kind_are_opened_by_their_returned_names_in_another_process() {
    if role().as_deref() == Some("opener") {
        let s = Shm::open(&env("SHM")).unwrap();
        let mut buf = [0; 3];
        shm::read_at(&s, 0, &mut buf).unwrap();
        assert_eq!(&buf, b"abc");
        let sem = NamedSemaphore::open(&env("SEM")).unwrap();
        sem.post().unwrap();
        let q = MessageQueue::open(&env("MQ")).unwrap();
        q.send(b"hi", 0).unwrap();
        report("ok");
        return;
    }
    let prefix = unique_name("uniq") + "-";
    let s = Shm::options().size(4096).create_unique(&prefix).unwrap();
    let _c1 = Cleanup::shm(s.name());
    shm::write_at(&s, 0, b"abc").unwrap();
    let sem = NamedSemaphore::options().create_unique(&prefix).unwrap();
    let _c2 = Cleanup::sem(sem.name());
    let q = MessageQueue::options()
        .capacity(2)
        .message_size(16)
        .create_unique(&prefix)
        .unwrap();
    let _c3 = Cleanup::mq(q.name());
    for n in [s.name(), sem.name(), q.name()] {
        assert!(
            n.starts_with(&prefix) && n.len() == prefix.len() + 16,
            "{n}"
        );
        assert!(
            n[prefix.len()..].bytes().all(|b| b.is_ascii_hexdigit()),
            "{n}"
        );
    }
    assert!(s.created() && sem.created() && q.created());
    let lines = spawn_role(
        "unique_objects_of_every_kind_are_opened_by_their_returned_names_in_another_process",
        "opener",
        &[("SHM", s.name()), ("SEM", sem.name()), ("MQ", q.name())],
    )
    .wait_ok();
    assert_eq!(lines, ["ok"]);
    sem.wait_timeout(Duration::from_secs(30)).unwrap();
    let mut buf = [0; 16];
    let (n, _) = q
        .receive_timeout(&mut buf, Duration::from_secs(30))
        .unwrap();
    assert_eq!(&buf[..n], b"hi");
}

#[test]
fn processes_drawing_unique_names_with_one_prefix_never_collide() {
    const EACH: usize = 200;
    if role().as_deref() == Some("drawer") {
        let prefix = env("PREFIX");
        // Keep every object until all are made, so that a collision would be AlreadyExists
        // retried, never a shared object; report the names.
        let made: Vec<Shm> = (0..EACH)
            .map(|_| Shm::options().size(1).create_unique(&prefix).unwrap())
            .collect();
        for s in &made {
            report(s.name());
        }
        return;
    }
    let prefix = unique_name("draw") + "-";
    let kids: Vec<_> = (0..3)
        .map(|_| {
            spawn_role(
                "processes_drawing_unique_names_with_one_prefix_never_collide",
                "drawer",
                &[("PREFIX", &prefix)],
            )
        })
        .collect();
    let mut all = HashSet::new();
    for k in kids {
        for n in k.wait_ok() {
            assert!(all.insert(n.clone()), "{n} handed out twice");
        }
    }
    assert_eq!(all.len(), 3 * EACH);
    // Every drawer's handles removed their names when it exited.
    for n in &all {
        assert_eq!(kind(&Shm::open(n).unwrap_err()), ErrorKind::NotFound, "{n}");
    }
}

#[test]
fn a_bad_unique_prefix_is_invalid_name_for_every_kind() {
    let long = format!("/{}", "x".repeat(240));
    for prefix in ["", "no-slash", "/a/b", "/nul\0", long.as_str()] {
        let e = Shm::options().size(1).create_unique(prefix).unwrap_err();
        assert!(
            matches!(kind(&e), ErrorKind::InvalidName),
            "{prefix:?}: {e}"
        );
        let e = NamedSemaphore::options().create_unique(prefix).unwrap_err();
        assert!(
            matches!(kind(&e), ErrorKind::InvalidName),
            "{prefix:?}: {e}"
        );
        let e = MessageQueue::options()
            .capacity(1)
            .message_size(1)
            .create_unique(prefix)
            .unwrap_err();
        assert!(
            matches!(kind(&e), ErrorKind::InvalidName),
            "{prefix:?}: {e}"
        );
    }
    // The semaphore limit is 4 bytes shorter: a prefix that fits shm may not fit it.
    let p = format!("/{}", "x".repeat(NameKind::Semaphore.max_len() - 16 + 1));
    assert!(name::unique("t", &p, NameKind::Shm).is_ok());
    let e = name::unique("t", &p, NameKind::Semaphore).unwrap_err();
    assert!(matches!(kind(&e), ErrorKind::InvalidName), "{e}");
    // A bare "/" is a fine prefix: the name is all suffix.
    assert_eq!(name::unique("t", "/", NameKind::Shm).unwrap().len(), 17);
}

#[test]
fn create_unique_draws_again_when_a_name_is_taken() {
    // A create that reports "taken" twice, then succeeds: three names drawn, all distinct.
    let mut seen = Vec::new();
    let got: Result<String, Error> = name::create_unique(
        "test",
        "/ipct-retry-",
        NameKind::Shm,
        |n| {
            seen.push(n.to_owned());
            if seen.len() < 3 {
                Err(Error::new("shm_open", ErrorKind::AlreadyExists))
            } else {
                Ok(n.to_owned())
            }
        },
        |e| e.kind() == ErrorKind::AlreadyExists,
    );
    assert_eq!(got.unwrap(), seen[2]);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 3);
    // Always taken: gives up with LimitReached, never loops forever.
    let e = name::create_unique(
        "test",
        "/ipct-retry-",
        NameKind::Shm,
        |_| Err::<(), _>(Error::new("shm_open", ErrorKind::AlreadyExists)),
        |e| e.kind() == ErrorKind::AlreadyExists,
    )
    .unwrap_err();
    assert!(matches!(kind(&e), ErrorKind::LimitReached), "{e}");
}

// ---- resizing a plain shm object ----

#[test]
fn growing_keeps_a_peers_old_mapping_valid_and_the_peer_sees_the_new_bytes_after_remap() {
    if role().as_deref() == Some("peer") {
        let mut s = Shm::open(&env("NAME")).unwrap();
        assert_eq!(s.len(), 4096);
        shm::write_at(&s, 0, &[1]).unwrap(); // "opened"
                                             // Wait for the creator's "grown" flag, read through the old mapping.
        let mut b = [0];
        ipc_testutil::wait_for("the grown flag", Duration::from_secs(30), || {
            shm::read_at(&s, 1, &mut b).unwrap();
            b[0] == 1
        });
        // The old mapping is still fully valid after the growth: its last byte reads.
        shm::read_at(&s, 4095, &mut b).unwrap();
        assert_eq!(b[0], 7);
        assert_eq!(s.len(), 4096, "nothing changes until remap");
        assert_eq!(s.remap().unwrap(), 65536);
        shm::read_at(&s, 65535, &mut b).unwrap();
        assert_eq!(b[0], 9);
        report(s.len());
        return;
    }
    let name = unique_name("grow");
    let _c = Cleanup::shm(&name);
    let mut s = Shm::create(&name, 4096).unwrap();
    shm::write_at(&s, 4095, &[7]).unwrap();
    let peer = spawn_role(
        "growing_keeps_a_peers_old_mapping_valid_and_the_peer_sees_the_new_bytes_after_remap",
        "peer",
        &[("NAME", &name)],
    );
    let mut b = [0];
    ipc_testutil::wait_for("the peer's open", Duration::from_secs(30), || {
        shm::read_at(&s, 0, &mut b).unwrap();
        b[0] == 1
    });
    s.grow(65536).unwrap();
    assert_eq!(s.len(), 65536);
    let mut b = [1; 4];
    shm::read_at(&s, 4095, &mut b).unwrap();
    assert_eq!(b, [7, 0, 0, 0], "old bytes kept, new ones zero");
    shm::write_at(&s, 65535, &[9]).unwrap();
    shm::write_at(&s, 1, &[1]).unwrap(); // "grown"
    assert_eq!(peer.wait_ok(), ["65536"]);
    // Growing to the same size is a no-op; smaller is refused (shrink is unsafe).
    s.grow(65536).unwrap();
    let e = s.grow(4096).unwrap_err();
    assert!(matches!(kind(&e), ErrorKind::InvalidSize), "{e}");
    assert_eq!(s.len(), 65536, "the mapping is kept on error");
}

#[test]
fn shrinking_is_seen_by_a_peer_that_remaps_and_bad_resizes_are_typed_errors() {
    if role().as_deref() == Some("peer") {
        let mut s = Shm::options().read_only(true).open(&env("NAME")).unwrap();
        assert_eq!(s.remap().unwrap(), 8192);
        let e = s.grow(1 << 20).unwrap_err();
        assert_eq!(kind(&e), ErrorKind::PermissionDenied);
        report(s.len());
        return;
    }
    let name = unique_name("shrink");
    let _c = Cleanup::shm(&name);
    let mut s = Shm::create(&name, 65536).unwrap();
    // SAFETY: no other process maps the object yet (the peer starts after this).
    unsafe { s.shrink(8192) }.unwrap();
    assert_eq!(s.len(), 8192);
    let lines = spawn_role(
        "shrinking_is_seen_by_a_peer_that_remaps_and_bad_resizes_are_typed_errors",
        "peer",
        &[("NAME", &name)],
    )
    .wait_ok();
    assert_eq!(lines, ["8192"]);
    // SAFETY: nothing maps the object but this handle; the call fails before any change.
    let e = unsafe { s.shrink(0) }.unwrap_err();
    assert!(matches!(kind(&e), ErrorKind::InvalidSize), "{e}");
    let e = s.grow(usize::MAX).unwrap_err();
    assert!(matches!(kind(&e), ErrorKind::InvalidSize), "{e}");
    assert_eq!(s.len(), 8192);
}

// ---- queue notification by callback ----

#[test]
fn a_closure_runs_on_a_thread_when_another_process_sends_to_the_empty_queue() {
    if role().as_deref() == Some("sender") {
        let q = MessageQueue::open(&env("NAME")).unwrap();
        // The parent holds the registration: a second one is refused.
        let e = q.notify_thread(|| {}).unwrap_err();
        assert!(matches!(kind(&e), ErrorKind::LimitReached), "{e}");
        q.send(env("MSG").as_bytes(), 0).unwrap();
        return;
    }
    if role().as_deref() == Some("registrar") {
        let q = MessageQueue::open(&env("NAME")).unwrap();
        q.notify_thread(|| {}).unwrap();
        return;
    }
    let test = "a_closure_runs_on_a_thread_when_another_process_sends_to_the_empty_queue";
    let name = unique_name("mqcb");
    let _c = Cleanup::mq(&name);
    let q = std::sync::Arc::new(MessageQueue::create(&name, 4, 32).unwrap());
    let (tx, rx) = mpsc::channel();
    let me = std::thread::current().id();
    let q2 = q.clone();
    q.notify_thread(move || {
        // Runs on another thread; it may use the queue.
        let mut buf = [0; 32];
        let got = q2.try_receive(&mut buf).map(|(n, _)| buf[..n].to_vec());
        let _ = tx.send((std::thread::current().id() != me, got));
    })
    .unwrap();
    // Registering twice from this process is refused too, and the refused closure is
    // dropped.
    let e = q.notify_thread(|| {}).unwrap_err();
    assert!(matches!(kind(&e), ErrorKind::LimitReached), "{e}");
    spawn_role(test, "sender", &[("NAME", &name), ("MSG", "first")]).wait_ok();
    let (other_thread, got) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("callback ran");
    assert!(other_thread);
    assert_eq!(got.unwrap(), b"first");

    // One-shot: after it ran, another registration is allowed; a cancelled one never runs.
    let (tx, rx) = mpsc::channel::<()>();
    q.notify_thread(move || {
        let _ = tx.send(());
    })
    .unwrap();
    q.cancel_notify().unwrap();
    // Cancelling dropped the closure unrun (its sender is gone) ...
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(5)),
        Err(mpsc::RecvTimeoutError::Disconnected)
    ));
    // ... and freed the registration for another process.
    spawn_role(test, "registrar", &[("NAME", &name)]).wait_ok();
}
