//! posix_ipc's `MessageQueue.request_notification(callable)`: a closure runs on a thread
//! whenever a message arrives on the empty queue (`mq_notify` with `SIGEV_THREAD`).
//!
//! ```text
//! cargo run --example mq_callback
//! ```
//!
//! The parent registers a callback that re-registers itself first (a registration is
//! one-shot) and then drains the queue, so no message is missed; a second process sends
//! three messages with pauses between them.

use std::process::{Command, ExitCode, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use ipc::os::mq::MessageQueue;

fn sender(name: &str) -> ipc::Result<()> {
    let q = MessageQueue::open(name)?;
    for msg in ["one", "two", "three"] {
        q.send(msg.as_bytes(), 0)?;
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Registers the callback: on a notification, register again, then take every message.
fn listen(q: Arc<MessageQueue>, tx: mpsc::Sender<String>) -> ipc::os::Result<()> {
    let q2 = q.clone();
    q.notify_thread(move || {
        if listen(q2.clone(), tx.clone()).is_err() {
            return;
        }
        let mut buf = vec![0; q2.message_size()];
        while let Ok((n, _)) = q2.try_receive(&mut buf) {
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    })
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("/ipc-mq-callback-{}", std::process::id());
    let q = Arc::new(MessageQueue::create(&name, 8, 64)?);
    let (tx, rx) = mpsc::channel();
    listen(q.clone(), tx)?;
    let status = Command::new(std::env::current_exe()?)
        .args(["--send", &name])
        .stderr(Stdio::inherit())
        .status()?;
    let mut got = Vec::new();
    while got.len() < 3 {
        got.push(rx.recv_timeout(Duration::from_secs(30))?);
        println!("callback got {:?}", got.last().unwrap_or(&String::new()));
    }
    q.cancel_notify()?;
    if !status.success() || got != ["one", "two", "three"] {
        return Err("not every message reached the callback".into());
    }
    println!("mq_callback: ok");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let r = match args.get(1).map(String::as_str) {
        Some("--send") => sender(&args[2]).map_err(Into::into),
        _ => run(),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mq_callback: {e}");
            ExitCode::FAILURE
        }
    }
}
