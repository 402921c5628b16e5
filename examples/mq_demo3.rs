//! Notification by signal when a message queue becomes non-empty (after posix_ipc's demo3).
//!
//! The first process creates a queue, blocks a real-time signal, and asks the kernel
//! (`mq_notify`) to send it that signal when a message arrives on the empty queue. It starts
//! itself again as a second process that sends three messages in two batches. Each time the
//! signal arrives (taken with `sigtimedwait`, which also reports the sending pid), the first
//! process registers again *before* draining the queue, so no arrival is missed, then drains
//! it. The queue is removed when the first process's handle is dropped. Exits non-zero on
//! any failure.
//!
//! Run: `cargo run --example mq_demo3`

use std::process::{Command, ExitCode};
use std::time::Duration;

use ipc::os::mq::MessageQueue;
use ipc::os::signal::{self, mask, Origin, SigSet, Signal};
use ipc::ErrorKind;

const MESSAGES: usize = 3;
const TIMEOUT: Duration = Duration::from_secs(10);
/// Travels with the notification signal, to tell it from other sources of the signal.
const NOTE_VALUE: usize = 3;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("--second") if args.len() == 3 => second(&args[2]),
        None => first(),
        _ => Err("usage: mq_demo3 (the second process is started by the first)".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mq_demo3: {e}");
            ExitCode::FAILURE
        }
    }
}

fn first() -> Result<()> {
    let pid = std::process::id();
    let name = format!("/ipc-demo3-{pid}");
    let queue = MessageQueue::create(&name, 8, 64)?;
    let sig = Signal::rt(1)?;
    let set: SigSet = [sig].into_iter().collect();
    // Blocked while this process has a single thread, so the signal waits for `wait`
    // instead of ending the process (the default action of a real-time signal).
    mask::block(&set)?;
    queue.notify_value(sig, NOTE_VALUE)?;
    println!("first  (pid {pid}): created {name}, asked for {sig} on arrival");

    let mut second = Command::new(std::env::current_exe()?)
        .args(["--second", &name])
        .spawn()?;
    let mut outcome = (|| -> Result<()> {
        let mut buf = vec![0; queue.message_size()];
        let mut received = 0;
        while received < MESSAGES {
            let info =
                signal::wait(&set, Some(TIMEOUT))?.ok_or("no notification within the timeout")?;
            if info.origin() != Origin::MessageQueue || info.value() != NOTE_VALUE {
                return Err(format!("unexpected signal {info:?}").into());
            }
            println!(
                "first : {} from pid {} (message queue notification)",
                info.signal(),
                info.pid()
            );
            // Register again before draining: a message that lands after the drain finds
            // the queue empty and raises the signal again.
            queue.notify_value(sig, NOTE_VALUE)?;
            loop {
                match queue.try_receive(&mut buf) {
                    Ok((n, prio)) => {
                        println!(
                            "first :   got {:?} (priority {prio})",
                            std::str::from_utf8(&buf[..n])?
                        );
                        received += 1;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        queue.cancel_notify()?;
        Ok(())
    })();
    let status = second.wait()?;
    if outcome.is_ok() && !status.success() {
        outcome = Err(format!("second process failed: {status}").into());
    }
    outcome?;
    println!("first : all {MESSAGES} messages received; the queue is removed on exit");
    Ok(())
}

fn second(name: &str) -> Result<()> {
    let queue = MessageQueue::open(name)?;
    queue.send(b"hello", 1)?;
    queue.send(b"world", 2)?;
    std::thread::sleep(Duration::from_millis(300));
    queue.send(b"again", 1)?;
    Ok(())
}
