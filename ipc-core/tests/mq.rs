//! POSIX message queues: create/open/unlink semantics, bad input, and cross-process
//! behaviour (priority order, FIFO within a priority, timeouts on a full and an empty queue,
//! notification by signal).

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ipc_core::mq::{self, Access, MessageQueue, MqLimits, MqOptions};
use ipc_core::signal::{self, SigAction, Signal};
use ipc_core::ErrorKind;
use ipc_testutil::proc_state::all_threads_sleep;
use ipc_testutil::{
    env, race, report, role, spawn_role, unique_name, wait_for_start, Cleanup, WATCHDOG,
};

/// What the error says about its kind: the kind's text and the detail (which limit).
fn kind_text(e: &ipc_core::Error) -> String {
    format!("{}: {}", e.kind(), e.detail().unwrap_or_default())
}

fn receive_str(q: &MessageQueue) -> (String, u32) {
    let mut buf = vec![0; q.message_size()];
    let (n, prio) = q
        .receive_timeout(&mut buf, Duration::from_secs(30))
        .unwrap();
    (String::from_utf8(buf[..n].to_vec()).unwrap(), prio)
}

#[test]
fn create_open_unlink() {
    let name = unique_name("mq-life");
    let _c = Cleanup::mq(&name);
    let q = MessageQueue::create(&name, 4, 64).unwrap();
    assert_eq!((q.capacity(), q.message_size(), q.name()), (4, 64, &*name));
    let a = q.attributes().unwrap();
    assert_eq!(
        (a.capacity, a.message_size, a.current, a.nonblocking),
        (4, 64, 0, false)
    );
    assert!(q.created() && q.unlinks_on_drop());

    // Exclusive create refuses a taken name; open and open-or-create find it.
    let e = MessageQueue::create(&name, 4, 64).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    assert_eq!(e.name(), Some(&*name));
    let opened = MessageQueue::open(&name).unwrap();
    assert!(!opened.created() && !opened.unlinks_on_drop());
    let either = MessageQueue::open_or_create(&name, 2, 8).unwrap();
    assert_eq!(
        either.capacity(),
        4,
        "opened the existing queue, not a new one"
    );
    q.send(b"x", 0).unwrap();
    assert_eq!(opened.attributes().unwrap().current, 1);
    drop((opened, either));

    // The creator unlinks on drop.
    drop(q);
    let e = MessageQueue::open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // Open-or-create creates; a persisted queue outlives its handle until unlinked.
    let mut q = MessageQueue::open_or_create(&name, 2, 8).unwrap();
    assert!(q.unlinks_on_drop());
    q.set_unlink_on_drop(false);
    drop(q);
    MessageQueue::open(&name).unwrap();
    mq::unlink(&name).unwrap();
    let e = mq::unlink(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // Unlinking through the handle: the name goes, the handle still works.
    let mut q = MessageQueue::create(&name, 2, 8).unwrap();
    q.unlink().unwrap();
    assert!(!q.unlinks_on_drop());
    assert_eq!(
        MessageQueue::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    q.send(b"still", 0).unwrap();
    drop(q);

    // close() reports and unlinks like drop.
    let q = MessageQueue::create(&name, 2, 8).unwrap();
    q.close().unwrap();
    assert_eq!(
        MessageQueue::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn mode_is_applied_exactly() {
    let name = unique_name("mq-mode");
    let _c = Cleanup::mq(&name);
    // 0o666 would be narrowed by a umask of 022 if it were passed to mq_open alone.
    let q = MqOptions::new()
        .capacity(1)
        .message_size(8)
        .mode(0o666)
        .create(&name)
        .unwrap();
    // SAFETY: an all-zero stat is a valid out-buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&q);
    // SAFETY: the queue's descriptor is open for the call and `st` is a valid out-pointer.
    let r = unsafe { libc::fstat(fd, &mut st) };
    assert_eq!(r, 0);
    assert_eq!(st.st_mode & 0o777, 0o666);
}

#[test]
fn bad_input_is_refused_with_the_limit_named() {
    let limits = MqLimits::read().unwrap();
    let name = unique_name("mq-bad");
    let _c = Cleanup::mq(&name);

    for bad in ["", "noslash", "/a/b", "/"] {
        let e = MessageQueue::create(bad, 1, 8).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidName), "{bad:?}: {e}");
    }
    let e = MessageQueue::create(&name, 0, 8).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{e}");
    let e = MessageQueue::create(&name, 1, 0).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{e}");

    let e = MessageQueue::create(&name, limits.msg_max + 1, 8).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::LimitReached), "{e}");
    let want = format!("/proc/sys/fs/mqueue/msg_max = {}", limits.msg_max);
    assert!(kind_text(&e).contains(&want), "{e}");
    let e = MessageQueue::create(&name, 1, limits.msgsize_max + 1).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::LimitReached), "{e}");
    let want = format!("/proc/sys/fs/mqueue/msgsize_max = {}", limits.msgsize_max);
    assert!(kind_text(&e).contains(&want), "{e}");

    let e = MqOptions::new().mode(0o4600).create(&name).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
    // None of the refused creates left a queue behind.
    assert_eq!(
        MessageQueue::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );

    let q = MessageQueue::create(&name, 2, 64).unwrap();
    let e = q.send(&[0; 65], 0).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{e}");
    assert!(kind_text(&e).contains("mq_msgsize = 64"), "{e}");
    q.send(&[0; 64], 0).unwrap();

    assert_eq!(mq::prio_max(), 32768);
    let e = q.send(b"x", 32768).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput), "{e}");
    assert!(kind_text(&e).contains("MQ_PRIO_MAX = 32768"), "{e}");
    q.send(b"x", 32767).unwrap();

    let mut small = [0u8; 63];
    let e = q.receive(&mut small).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidSize), "{e}");
    assert!(kind_text(&e).contains("mq_msgsize = 64"), "{e}");
    assert_eq!(q.attributes().unwrap().current, 2, "nothing was taken");

    let ro = MqOptions::new()
        .access(Access::ReadOnly)
        .open(&name)
        .unwrap();
    assert_eq!(
        ro.send(b"x", 0).unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    let wo = MqOptions::new()
        .access(Access::WriteOnly)
        .open(&name)
        .unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        wo.receive(&mut buf).unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
}

#[test]
fn rlimit_msgqueue_is_named() {
    if role().is_none() {
        spawn_role("rlimit_msgqueue_is_named", "child", &[]).wait_ok();
        return;
    }
    // In a process of its own: lower RLIMIT_MSGQUEUE so that no queue fits.
    let lim = libc::rlimit {
        rlim_cur: 1,
        rlim_max: 1,
    };
    // SAFETY: a valid rlimit struct read during the call.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_MSGQUEUE, &lim) }, 0);
    let name = unique_name("mq-rlim");
    let _c = Cleanup::mq(&name);
    let e = MessageQueue::create(&name, 2, 64).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::LimitReached), "{e}");
    assert!(kind_text(&e).contains("RLIMIT_MSGQUEUE (1 bytes"), "{e}");
}

#[test]
fn priority_order_then_fifo_across_processes() {
    let sent: [(&str, u32); 7] = [
        ("a1", 1),
        ("c1", 5),
        ("a2", 1),
        ("b1", 3),
        ("c2", 5),
        ("a3", 1),
        ("z1", 0),
    ];
    match role().as_deref() {
        None => {
            let name = unique_name("mq-prio");
            let _c = Cleanup::mq(&name);
            let q = MessageQueue::create(&name, sent.len(), 16).unwrap();
            spawn_role(
                "priority_order_then_fifo_across_processes",
                "sender",
                &[("MQ_NAME", &name)],
            )
            .wait_ok();
            let got: Vec<(String, u32)> = (0..sent.len()).map(|_| receive_str(&q)).collect();
            let want = [
                ("c1", 5),
                ("c2", 5),
                ("b1", 3),
                ("a1", 1),
                ("a2", 1),
                ("a3", 1),
                ("z1", 0),
            ]
            .map(|(s, p)| (s.to_owned(), p));
            assert_eq!(got, want);
        }
        Some("sender") => {
            let q = MqOptions::new()
                .access(Access::WriteOnly)
                .open(&env("MQ_NAME"))
                .unwrap();
            for (msg, prio) in sent {
                q.send(msg.as_bytes(), prio).unwrap();
            }
        }
        Some(other) => panic!("unknown role {other}"),
    }
}

#[test]
fn blocking_receive_wakes_on_send_from_another_process() {
    /// Rounds: in each the parent sends only once the receiver sleeps in `mq_receive`
    /// (every thread of the child asleep, one in the queue's wait channel `wq_sleep`).
    const ROUNDS: usize = 3;
    match role().as_deref() {
        None => {
            let name = unique_name("mq-wake");
            let _c = Cleanup::mq(&name);
            let ready_name = unique_name("mq-ready");
            let _c2 = Cleanup::mq(&ready_name);
            let q = MessageQueue::create(&name, 2, 16).unwrap();
            let ready = MessageQueue::create(&ready_name, ROUNDS, 8).unwrap();
            let child = spawn_role(
                "blocking_receive_wakes_on_send_from_another_process",
                "receiver",
                &[("MQ_NAME", &name), ("READY_NAME", &ready_name)],
            );
            let mut sent_at = Vec::new();
            let mut buf = [0u8; 8];
            for round in 0..ROUNDS {
                // The receiver says it is about to call receive; send once it blocks there.
                ready
                    .receive_timeout(&mut buf, Duration::from_secs(30))
                    .unwrap();
                let pid = child.pid();
                ipc_testutil::wait_for_child(pid, "the receiver to block", WATCHDOG, || {
                    all_threads_sleep(pid, "wq_sleep")
                });
                sent_at.push(monotonic_ns());
                q.send(format!("wake{round}").as_bytes(), 2).unwrap();
            }
            let lines = child.wait_ok();
            assert_eq!(lines.len(), ROUNDS, "{lines:?}");
            let mut blocked = 0;
            for (round, line) in lines.iter().enumerate() {
                let mut parts = line.split(' ');
                assert_eq!(
                    parts.next(),
                    Some(format!("wake{round}").as_str()),
                    "{line}"
                );
                assert_eq!(parts.next(), Some("2"), "{line}");
                let entered: u128 = parts.next().unwrap().parse().unwrap();
                if entered < sent_at[round] {
                    blocked += 1;
                }
            }
            assert_eq!(
                blocked, ROUNDS,
                "the receiver was not in receive before each send: {lines:?} / {sent_at:?}"
            );
        }
        Some("receiver") => {
            let q = MessageQueue::open(&env("MQ_NAME")).unwrap();
            let ready = MessageQueue::open(&env("READY_NAME")).unwrap();
            let mut buf = [0u8; 16];
            for _ in 0..ROUNDS {
                ready.send(b"r", 0).unwrap();
                let entered = monotonic_ns();
                // Blocks without a timeout; the parent's watchdog bounds it.
                let (n, prio) = q.receive(&mut buf).unwrap();
                report(format!(
                    "{} {prio} {entered}",
                    std::str::from_utf8(&buf[..n]).unwrap()
                ));
            }
        }
        Some(other) => panic!("unknown role {other}"),
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine.
fn monotonic_ns() -> u128 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32).as_nanos()
}

#[test]
fn full_queue_send_times_out() {
    match role().as_deref() {
        None => {
            let name = unique_name("mq-full");
            let _c = Cleanup::mq(&name);
            let q = MessageQueue::create(&name, 2, 16).unwrap();
            spawn_role("full_queue_send_times_out", "filler", &[("MQ_NAME", &name)]).wait_ok();
            assert_eq!(q.attributes().unwrap().current, 2);
            // Zero timeout: fails at once.
            let e = q.try_send(b"x", 0).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
            // A timeout runs out, no earlier than asked.
            let t = Instant::now();
            let e = q
                .send_timeout(b"x", 0, Duration::from_millis(100))
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
            assert!(
                t.elapsed() >= Duration::from_millis(100),
                "{:?}",
                t.elapsed()
            );
            // Room again: the timed send goes through.
            assert_eq!(receive_str(&q), ("f1".to_owned(), 0));
            q.send_timeout(b"x", 0, Duration::from_millis(100)).unwrap();
            assert_eq!(q.attributes().unwrap().current, 2);
        }
        Some("filler") => {
            let q = MessageQueue::open(&env("MQ_NAME")).unwrap();
            q.try_send(b"f1", 0).unwrap();
            q.try_send(b"f2", 0).unwrap();
            let e = q.try_send(b"f3", 0).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
        }
        Some(other) => panic!("unknown role {other}"),
    }
}

#[test]
fn empty_queue_receive_times_out() {
    match role().as_deref() {
        None => {
            let name = unique_name("mq-empty");
            let _c = Cleanup::mq(&name);
            let q = MessageQueue::create(&name, 2, 16).unwrap();
            let mut buf = [0u8; 16];
            let e = q.try_receive(&mut buf).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
            let t = Instant::now();
            let e = q
                .receive_timeout(&mut buf, Duration::from_millis(100))
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
            assert!(
                t.elapsed() >= Duration::from_millis(100),
                "{:?}",
                t.elapsed()
            );
            // Another process sends: the timed receive returns it.
            let child = spawn_role(
                "empty_queue_receive_times_out",
                "sender",
                &[("MQ_NAME", &name)],
            );
            assert_eq!(receive_str(&q), ("late".to_owned(), 9));
            child.wait_ok();
            // Once drained, a poll fails at once again.
            let e = q.try_receive(&mut buf).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
        }
        Some("sender") => {
            let q = MessageQueue::open(&env("MQ_NAME")).unwrap();
            q.send(b"late", 9).unwrap();
        }
        Some(other) => panic!("unknown role {other}"),
    }
}

#[test]
fn nonblocking_mode() {
    let name = unique_name("mq-nb");
    let _c = Cleanup::mq(&name);
    let q = MessageQueue::options()
        .capacity(1)
        .message_size(8)
        .nonblocking(true)
        .create(&name)
        .unwrap();
    assert!(q.attributes().unwrap().nonblocking);
    let mut buf = [0u8; 8];
    let e = q.receive(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    q.send(b"1", 0).unwrap();
    let e = q.send(b"2", 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    q.set_nonblocking(false).unwrap();
    assert!(!q.attributes().unwrap().nonblocking);
    assert_eq!(q.receive(&mut buf).unwrap(), (1, 0));
}

static NOTE_COUNT: AtomicUsize = AtomicUsize::new(0);
static NOTE_CODE: AtomicI32 = AtomicI32::new(0);
static NOTE_PID: AtomicI32 = AtomicI32::new(0);
static NOTE_VALUE: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_note(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for the duration of the handler; copying it
    // and storing atomics is async-signal-safe.
    let Some(info) = signal::SigInfo::from_raw(unsafe { *info }) else {
        return;
    };
    NOTE_CODE.store(info.code(), Ordering::SeqCst);
    NOTE_PID.store(info.pid(), Ordering::SeqCst);
    NOTE_VALUE.store(info.value(), Ordering::SeqCst);
    NOTE_COUNT.fetch_add(1, Ordering::SeqCst);
}

fn wait_for_note(count: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while NOTE_COUNT.load(Ordering::SeqCst) < count {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

#[test]
fn notification_delivered_across_processes() {
    match role().as_deref() {
        None => {
            let name = unique_name("mq-note");
            let _c = Cleanup::mq(&name);
            let q = MessageQueue::create(&name, 4, 16).unwrap();
            let lines = spawn_role(
                "notification_delivered_across_processes",
                "receiver",
                &[("MQ_NAME", &name)],
            )
            .wait_ok();
            assert_eq!(lines, ["notified"]);
            drop(q);
        }
        Some("receiver") => {
            // This process changes a disposition: it runs on its own. The handler runs on
            // whichever thread the kernel picks, so it only records into atomics.
            let sig = Signal::rt(5).unwrap();
            // SAFETY: the handler only copies the siginfo_t and stores atomics.
            signal::set_action(sig, &unsafe { SigAction::siginfo_handler(on_note) }).unwrap();
            let name = env("MQ_NAME");
            let q = MessageQueue::open(&name).unwrap();
            q.notify_value(sig, 77).unwrap();
            let sender = spawn_role(
                "notification_delivered_across_processes",
                "sender",
                &[("MQ_NAME", &name)],
            );
            let sender_pid = sender.pid();
            sender.wait_ok();
            assert!(wait_for_note(1), "no notification within 30 s");
            assert_eq!(NOTE_CODE.load(Ordering::SeqCst), libc::SI_MESGQ);
            assert_eq!(NOTE_PID.load(Ordering::SeqCst), sender_pid);
            assert_eq!(NOTE_VALUE.load(Ordering::SeqCst), 77);
            // Both messages are there; the registration was one-shot, so the second
            // message (on a non-empty queue) raised nothing more.
            assert_eq!(q.attributes().unwrap().current, 2);
            assert_eq!(NOTE_COUNT.load(Ordering::SeqCst), 1);
            // Re-registered, drained, then cancelled: a new message raises nothing.
            q.notify(sig).unwrap();
            q.cancel_notify().unwrap();
            let mut buf = [0u8; 16];
            q.try_receive(&mut buf).unwrap();
            q.try_receive(&mut buf).unwrap();
            q.send(b"quiet", 0).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(NOTE_COUNT.load(Ordering::SeqCst), 1);
            report("notified");
        }
        Some("sender") => {
            let q = MessageQueue::open(&env("MQ_NAME")).unwrap();
            // The receiver holds the registration: a second one is refused.
            let e = q.notify(Signal::rt(5).unwrap()).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::LimitReached), "{e}");
            q.send(b"one", 1).unwrap();
            q.send(b"two", 1).unwrap();
        }
        Some(other) => panic!("unknown role {other}"),
    }
}

#[test]
fn open_or_create_race_has_one_creator() {
    const RACERS: usize = 4;
    match role().as_deref() {
        None => {
            let name = unique_name("mq-race");
            let _c = Cleanup::mq(&name);
            let outcomes = race(
                "open_or_create_race_has_one_creator",
                "racer",
                RACERS,
                &[("MQ_NAME", &name)],
                Duration::from_millis(700),
            );
            assert_eq!(outcomes.len(), RACERS, "{outcomes:?}");
            let created = outcomes.iter().filter(|o| *o == "created").count();
            assert_eq!(created, 1, "{outcomes:?}");
            MessageQueue::open(&name).unwrap();
        }
        Some("racer") => {
            // All racers call at the same instant, so that the race really happens.
            wait_for_start(Duration::ZERO);
            let mut q = MessageQueue::open_or_create(&env("MQ_NAME"), 2, 8).unwrap();
            // Only the creating handle unlinks on drop; keep the queue for the others.
            assert_eq!(q.unlinks_on_drop(), q.created());
            q.set_unlink_on_drop(false);
            report(if q.created() { "created" } else { "opened" });
        }
        Some(other) => panic!("unknown role {other}"),
    }
}

#[test]
fn creator_drop_does_not_remove_a_newer_queue_of_the_same_name() {
    let name = unique_name("mq-reuse");
    let _c = Cleanup::mq(&name);
    let mut old = MessageQueue::create(&name, 2, 8).unwrap();
    old.unlink().unwrap();
    old.set_unlink_on_drop(true); // even asked to, it must not remove the new one
    let new = MessageQueue::create(&name, 2, 8).unwrap();
    drop(old);
    MessageQueue::open(&name).expect("the newer queue survives");
    // Likewise through close().
    let mut old = new;
    old.unlink().unwrap();
    old.set_unlink_on_drop(true);
    let newer = MessageQueue::create(&name, 2, 8).unwrap();
    old.close().unwrap();
    MessageQueue::open(&name).expect("the newer queue survives close()");
    drop(newer);
    assert_eq!(
        MessageQueue::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn forked_copy_of_the_creator_does_not_unlink() {
    let name = unique_name("mq-fork");
    let _c = Cleanup::mq(&name);
    let slot = std::cell::RefCell::new(Some(MessageQueue::create(&name, 2, 8).unwrap()));
    // The child drops its copy of the creating handle: that closes, but must not unlink,
    // because the child is not the process that created the queue.
    ipc_testutil::fork_run(Duration::from_secs(30), || {
        drop(slot.borrow_mut().take());
        true
    })
    .unwrap();
    MessageQueue::open(&name).expect("the name survives the child's drop");
    drop(slot);
    assert_eq!(
        MessageQueue::open(&name).unwrap_err().kind(),
        ErrorKind::NotFound,
        "the creator's own drop unlinks"
    );
}

#[test]
fn an_opener_unlinks_only_when_asked() {
    let name = unique_name("mq-opener");
    let _c = Cleanup::mq(&name);
    let q = MessageQueue::options()
        .capacity(1)
        .message_size(8)
        .unlink_on_drop(false)
        .create(&name)
        .unwrap();
    assert!(q.created() && !q.unlinks_on_drop());
    drop(q);
    let o = MessageQueue::open(&name).unwrap();
    assert!(!o.created() && !o.unlinks_on_drop());
    drop(o);
    let o = MessageQueue::options()
        .unlink_on_drop(true)
        .open(&name)
        .unwrap();
    assert!(o.unlinks_on_drop());
    drop(o);
    let e = MessageQueue::open(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("unlink_on_drop(false)"), "{e}");
}
