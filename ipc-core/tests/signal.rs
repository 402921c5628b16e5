//! Cross-process signal tests.
//!
//! `harness = false`: libtest runs each test on a thread of its own while the main thread
//! waits, and a process-directed signal goes to any thread that does not block it, where
//! the default action ends the process. A process that blocks a signal to take it with
//! `wait` must block it in every thread, so each test runs on the main thread of a process
//! of its own: the small `main` below runs the tests in order on the main thread, and every
//! test that changes a mask or an action does so in a child spawned with `spawn_role`
//! (which re-executes this binary with `<test> --exact`).

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ipc_core::signal::{self, mask, Handler, Origin, SaFlags, SigAction, SigSet, Signal, SignalFd};
use ipc_core::ErrorKind;
use ipc_testutil::{env, report, role, spawn_role};

/// The tests, by name, in the order they run.
macro_rules! tests {
    ($($test:ident),* $(,)?) => {
        &[$((stringify!($test), $test as fn())),*]
    };
}

const TESTS: &[(&str, fn())] = tests![
    bad_signal_numbers_are_refused,
    kill_and_stop_are_refused,
    queued_value_crosses_processes,
    realtime_signals_queue_in_order,
    wait_times_out_and_polls,
    mask_and_pending,
    actions_get_set_replace,
    suspend_returns_after_handler,
    signalfd_reads_queued_signals,
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in TESTS {
            println!("{name}: test");
        }
        return;
    }
    let exact = args.iter().any(|a| a == "--exact");
    // libtest's command line, as far as it matters here: filters, `--exact`, `--skip NAME`;
    // other options are accepted and ignored (with their value, for those that take one).
    let (mut filters, mut skips) = (Vec::new(), Vec::new());
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--skip" => skips.extend(rest.next().cloned()),
            "--format" | "--color" | "--test-threads" | "--logfile" | "--shuffle-seed" | "-Z" => {
                rest.next();
            }
            a if a.starts_with('-') => {}
            a => filters.push(a.to_owned()),
        }
    }
    let matches = |name: &str, f: &String| {
        if exact {
            name == f
        } else {
            name.contains(f.as_str())
        }
    };
    let selected = TESTS.iter().filter(|(name, _)| {
        (filters.is_empty() || filters.iter().any(|f| matches(name, f)))
            && !skips.iter().any(|f| matches(name, f))
    });
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, test) in selected {
        let ok = std::panic::catch_unwind(test).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if ok {
            passed += 1;
        } else {
            failed.push(*name);
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(101);
    }
}

fn set_of(signals: &[Signal]) -> SigSet {
    signals.iter().copied().collect()
}

fn me() -> i32 {
    std::process::id() as i32
}

/// In a role child: the pid the test passed in `RECEIVER_PID`.
fn receiver_pid() -> i32 {
    env("RECEIVER_PID").parse().expect("RECEIVER_PID is a pid")
}

fn invalid_input(e: &ipc_core::Error) -> &str {
    match e.kind() {
        ErrorKind::InvalidInput => e.detail().expect("InvalidInput says which argument"),
        other => panic!("expected InvalidInput, got {other:?}: {e}"),
    }
}

// --- no process state is changed: run in the test process ------------------------------

fn bad_signal_numbers_are_refused() {
    let e = Signal::new(0).unwrap_err();
    assert!(invalid_input(&e).contains("not positive"), "{e}");
    let max = libc::SIGRTMAX();
    let e = Signal::new(max + 1).unwrap_err();
    assert!(invalid_input(&e).contains("above SIGRTMAX"), "{e}");
    let e = Signal::rt(Signal::rt_count()).unwrap_err();
    assert!(invalid_input(&e).contains("above SIGRTMAX"), "{e}");
    // A siginfo_t that names no valid signal gives no SigInfo (so no invalid Signal).
    // SAFETY: siginfo_t is plain integers; all zeroes is a valid value.
    let zero: libc::siginfo_t = unsafe { std::mem::zeroed() };
    assert!(signal::SigInfo::from_raw(zero).is_none(), "si_signo 0");
    // sigqueue to a pid that cannot be a single process.
    let e = signal::queue(0, Signal::USR1, 1).unwrap_err();
    assert!(invalid_input(&e).contains("pid 0"), "{e}");
}

// --- each of these changes masks or actions, so it runs in a spawned process ------------

fn kill_and_stop_are_refused() {
    if role().is_none() {
        spawn_role("kill_and_stop_are_refused", "child", &[]).wait_ok();
        return;
    }
    let before = mask::get().unwrap();
    for sig in [Signal::KILL, Signal::STOP] {
        let e = signal::set_action(sig, &SigAction::ignore()).unwrap_err();
        assert!(invalid_input(&e).contains("cannot be caught"), "{e}");
        assert_eq!(e.name(), Some(sig.to_string().as_str()), "{e}");
        let e = signal::replace_action(sig, &SigAction::default_action()).unwrap_err();
        assert!(invalid_input(&e).contains("cannot be caught"), "{e}");
        let e = mask::block(&set_of(&[Signal::USR1, sig])).unwrap_err();
        assert!(invalid_input(&e).contains("blocked"), "{e}");
        let e = mask::set(&set_of(&[sig])).unwrap_err();
        assert!(invalid_input(&e).contains("blocked"), "{e}");
    }
    // Refused before any system call: the mask did not change (USR1 was not blocked).
    assert_eq!(mask::get().unwrap(), before);
}

const VALUE: usize = 0x5eed_1234;

fn queued_value_crosses_processes() {
    match role().as_deref() {
        None => {
            let lines = spawn_role("queued_value_crosses_processes", "receiver", &[]).wait_ok();
            assert_eq!(lines, ["received"]);
        }
        Some("receiver") => {
            let sig = Signal::rt(2).unwrap();
            let set = set_of(&[sig]);
            // Blocked before the sender exists, so the signal cannot be delivered first.
            mask::block(&set).unwrap();
            let pid = me().to_string();
            let sender = spawn_role(
                "queued_value_crosses_processes",
                "sender",
                &[("RECEIVER_PID", &pid)],
            );
            let info = signal::wait(&set, Some(Duration::from_secs(30)))
                .unwrap()
                .expect("the sender's signal within 30 s");
            assert_eq!(info.signal(), sig);
            assert_eq!(info.origin(), Origin::Queue);
            assert_eq!(info.code(), libc::SI_QUEUE);
            assert_eq!(info.pid(), sender.pid(), "sending pid");
            // SAFETY: getuid has no preconditions.
            assert_eq!(info.uid(), unsafe { libc::getuid() });
            assert_eq!(info.value(), VALUE);
            assert_eq!(info.value_int(), VALUE as i32);
            sender.wait_ok();
            report("received");
        }
        Some("sender") => {
            signal::queue(receiver_pid(), Signal::rt(2).unwrap(), VALUE).unwrap();
        }
        Some(other) => panic!("unknown role {other}"),
    }
}

fn realtime_signals_queue_in_order() {
    match role().as_deref() {
        None => {
            spawn_role("realtime_signals_queue_in_order", "receiver", &[]).wait_ok();
        }
        Some("receiver") => {
            let rt = Signal::rt(3).unwrap();
            mask::block(&set_of(&[rt, Signal::USR1])).unwrap();
            let pid = me().to_string();
            // The sender queues everything and exits before we look.
            spawn_role(
                "realtime_signals_queue_in_order",
                "sender",
                &[("RECEIVER_PID", &pid)],
            )
            .wait_ok();
            let pending = signal::pending().unwrap();
            assert!(pending.contains(rt) && pending.contains(Signal::USR1));
            // A real-time signal queued five times arrives five times, in order.
            let rt_set = set_of(&[rt]);
            let values: Vec<usize> = (0..5)
                .map(|_| {
                    signal::wait(&rt_set, Some(Duration::ZERO))
                        .unwrap()
                        .expect("a queued instance")
                        .value()
                })
                .collect();
            assert_eq!(values, [1, 2, 3, 4, 5]);
            assert!(signal::wait(&rt_set, Some(Duration::ZERO))
                .unwrap()
                .is_none());
            // A standard signal sent three times while pending is pending once: the first.
            let usr1 = set_of(&[Signal::USR1]);
            let first = signal::wait(&usr1, Some(Duration::ZERO))
                .unwrap()
                .expect("SIGUSR1 pending once");
            assert_eq!(first.value(), 10);
            assert!(signal::wait(&usr1, Some(Duration::ZERO)).unwrap().is_none());
            assert!(signal::pending().unwrap().is_empty());
        }
        Some("sender") => {
            let pid = receiver_pid();
            let rt = Signal::rt(3).unwrap();
            for v in 1..=5 {
                signal::queue(pid, rt, v).unwrap();
            }
            for v in 10..13 {
                signal::queue(pid, Signal::USR1, v).unwrap();
            }
        }
        Some(other) => panic!("unknown role {other}"),
    }
}

fn wait_times_out_and_polls() {
    if role().is_none() {
        spawn_role("wait_times_out_and_polls", "child", &[]).wait_ok();
        return;
    }
    let sig = Signal::rt(4).unwrap();
    let set = set_of(&[sig]);
    mask::block(&set).unwrap();
    // Zero polls: nothing pending, so None at once.
    assert!(signal::wait(&set, Some(Duration::ZERO)).unwrap().is_none());
    // A timeout runs out (and does not return early).
    let t = Instant::now();
    assert!(signal::wait(&set, Some(Duration::from_millis(100)))
        .unwrap()
        .is_none());
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    // A pending signal is taken by a poll, with our own pid as sender.
    signal::queue(me(), sig, 7).unwrap();
    let info = signal::wait(&set, Some(Duration::ZERO))
        .unwrap()
        .expect("pending");
    assert_eq!((info.signal(), info.value(), info.pid()), (sig, 7, me()));
    // No timeout: returns as soon as one is pending.
    signal::queue(me(), sig, 8).unwrap();
    assert_eq!(signal::wait(&set, None).unwrap().unwrap().value(), 8);
}

static USR2_COUNT: AtomicUsize = AtomicUsize::new(0);
static USR2_VALUE: AtomicUsize = AtomicUsize::new(0);
static USR2_PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn count_usr2(_: libc::c_int) {
    USR2_COUNT.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn record_usr2(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for the duration of the handler; reading
    // it and storing atomics is async-signal-safe.
    let Some(info) = signal::SigInfo::from_raw(unsafe { *info }) else {
        return;
    };
    USR2_VALUE.store(info.value(), Ordering::SeqCst);
    USR2_PID.store(info.pid(), Ordering::SeqCst);
    USR2_COUNT.fetch_add(1, Ordering::SeqCst);
}

fn mask_and_pending() {
    if role().is_none() {
        spawn_role("mask_and_pending", "child", &[]).wait_ok();
        return;
    }
    // Blocking returns the old mask and adds to it.
    let old = mask::block(&set_of(&[Signal::USR1])).unwrap();
    assert!(!old.contains(Signal::USR1));
    assert!(mask::get().unwrap().contains(Signal::USR1));
    // A blocked signal stays pending (its default action, termination, does not happen).
    signal::kill(me(), Signal::USR1).unwrap();
    assert!(signal::pending().unwrap().contains(Signal::USR1));
    // Taking it clears it from the pending set.
    let info = signal::wait(&set_of(&[Signal::USR1]), Some(Duration::ZERO))
        .unwrap()
        .expect("pending SIGUSR1");
    assert_eq!(info.origin(), Origin::User);
    assert!(!signal::pending().unwrap().contains(Signal::USR1));

    // Unblocking delivers a pending signal before `unblock` returns, once for a standard
    // signal sent twice.
    // SAFETY: the handler only increments an atomic.
    signal::set_action(Signal::USR2, &unsafe { SigAction::handler(count_usr2) }).unwrap();
    mask::block(&set_of(&[Signal::USR2])).unwrap();
    signal::kill(me(), Signal::USR2).unwrap();
    signal::kill(me(), Signal::USR2).unwrap();
    assert_eq!(
        USR2_COUNT.load(Ordering::SeqCst),
        0,
        "blocked: not delivered"
    );
    let before = mask::unblock(&set_of(&[Signal::USR2])).unwrap();
    assert!(before.contains(Signal::USR2));
    assert_eq!(USR2_COUNT.load(Ordering::SeqCst), 1);

    // `set` replaces the mask and returns the previous one; `full` blocks everything
    // blockable.
    let prev = mask::set(&SigSet::full()).unwrap();
    assert!(prev.contains(Signal::USR1) && !prev.contains(Signal::USR2));
    assert_eq!(mask::get().unwrap(), SigSet::full());
    assert_eq!(mask::set(&old).unwrap(), SigSet::full());
    assert_eq!(mask::get().unwrap(), old);
}

fn actions_get_set_replace() {
    if role().is_none() {
        spawn_role("actions_get_set_replace", "child", &[]).wait_ok();
        return;
    }
    assert_eq!(
        signal::get_action(Signal::USR2).unwrap().handler_kind(),
        Handler::Default
    );
    // Replace returns the old action; get reads the new one.
    let old = signal::replace_action(Signal::USR2, &SigAction::ignore()).unwrap();
    assert_eq!(old.handler_kind(), Handler::Default);
    assert_eq!(
        signal::get_action(Signal::USR2).unwrap().handler_kind(),
        Handler::Ignore
    );
    // Ignored: discarded at once, not pending, and the process lives.
    signal::kill(me(), Signal::USR2).unwrap();
    assert!(!signal::pending().unwrap().contains(Signal::USR2));

    // A SA_SIGINFO handler sees the queued value and the sender.
    let mask = set_of(&[Signal::USR1]);
    // SAFETY: the handler only copies the siginfo_t and stores atomics.
    let act = unsafe { SigAction::siginfo_handler(record_usr2) }
        .with_mask(mask)
        .with_flags(SaFlags::SA_RESTART | SaFlags::SA_SIGINFO);
    signal::set_action(Signal::USR2, &act).unwrap();
    let got = signal::get_action(Signal::USR2).unwrap();
    assert!(matches!(
        got.handler_kind(),
        Handler::Function { siginfo: true, .. }
    ));
    assert!(got.flags().contains(SaFlags::SA_RESTART));
    assert!(got.mask().contains(Signal::USR1));
    // Unblocked and directed at this single-threaded process: handled before queue returns.
    signal::queue(me(), Signal::USR2, 99).unwrap();
    assert_eq!(USR2_COUNT.load(Ordering::SeqCst), 1);
    assert_eq!(USR2_VALUE.load(Ordering::SeqCst), 99);
    assert_eq!(USR2_PID.load(Ordering::SeqCst), me());

    // A plain handler never gets SA_SIGINFO, even if asked for.
    // SAFETY: the handler only increments an atomic.
    let plain = unsafe { SigAction::handler(count_usr2) }.with_flags(SaFlags::SA_SIGINFO);
    assert!(matches!(
        plain.handler_kind(),
        Handler::Function { siginfo: false, .. }
    ));

    signal::set_action(Signal::USR2, &old).unwrap();
    assert_eq!(
        signal::get_action(Signal::USR2).unwrap().handler_kind(),
        Handler::Default
    );
}

fn suspend_returns_after_handler() {
    match role().as_deref() {
        None => {
            spawn_role("suspend_returns_after_handler", "receiver", &[]).wait_ok();
        }
        Some("receiver") => {
            // SAFETY: the handler only increments an atomic.
            signal::set_action(Signal::USR2, &unsafe { SigAction::handler(count_usr2) }).unwrap();
            let old = mask::block(&set_of(&[Signal::USR2])).unwrap();
            let pid = me().to_string();
            let sender = spawn_role(
                "suspend_returns_after_handler",
                "sender",
                &[("RECEIVER_PID", &pid)],
            );
            // Whether the signal came before or during the sleep, the blocked signal waits
            // as pending and `suspend` (with it unblocked) runs the handler and returns.
            while USR2_COUNT.load(Ordering::SeqCst) == 0 {
                signal::suspend(&old);
            }
            assert!(mask::get().unwrap().contains(Signal::USR2), "mask restored");
            sender.wait_ok();
        }
        Some("sender") => signal::kill(receiver_pid(), Signal::USR2).unwrap(),
        Some(other) => panic!("unknown role {other}"),
    }
}

fn signalfd_reads_queued_signals() {
    match role().as_deref() {
        None => {
            spawn_role("signalfd_reads_queued_signals", "receiver", &[]).wait_ok();
        }
        Some("receiver") => {
            let sig = Signal::rt(6).unwrap();
            let set = set_of(&[sig]);
            mask::block(&set).unwrap();
            let sfd = SignalFd::new(&set).unwrap();
            assert_eq!(sfd.signals(), &set);
            assert!(sfd.try_read().unwrap().is_none(), "nothing pending yet");
            let t = Instant::now();
            assert!(sfd
                .read_timeout(Some(Duration::from_millis(50)))
                .unwrap()
                .is_none());
            assert!(
                t.elapsed() >= Duration::from_millis(50),
                "{:?}",
                t.elapsed()
            );
            let pid = me().to_string();
            let sender = spawn_role(
                "signalfd_reads_queued_signals",
                "sender",
                &[("RECEIVER_PID", &pid)],
            );
            let sender_pid = sender.pid();
            let values: Vec<usize> = (0..3)
                .map(|_| {
                    let info = sfd
                        .read_timeout(Some(Duration::from_secs(30)))
                        .unwrap()
                        .expect("a queued signal within 30 s");
                    assert_eq!(info.signal(), sig);
                    assert_eq!(info.origin(), Origin::Queue);
                    assert_eq!(info.pid(), sender_pid);
                    info.value()
                })
                .collect();
            assert_eq!(values, [21, 22, 23]);
            sender.wait_ok();
            assert!(sfd.try_read().unwrap().is_none());
        }
        Some("sender") => {
            let rt = Signal::rt(6).unwrap();
            for v in 21..=23 {
                signal::queue(receiver_pid(), rt, v).unwrap();
            }
        }
        Some(other) => panic!("unknown role {other}"),
    }
}
