//! Two processes play ping-pong through POSIX message queues (after posix_ipc's demo2).
//!
//! The first process creates a request and a reply queue, starts itself again as the second
//! process, and sends it numbers; the second answers each with the number plus one; the
//! first checks every answer. Then it sends `quit`, waits for the second to exit, and its
//! queue handles unlink both queues when dropped. Exits non-zero on any failure.
//!
//! Run: `cargo run --example mq_demo2`

use std::process::{Command, ExitCode};
use std::time::Duration;

use ipc::os::mq::{Access, MessageQueue, MqOptions};

const ROUNDS: u64 = 10;
const TIMEOUT: Duration = Duration::from_secs(10);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("--second") if args.len() == 4 => second(&args[2], &args[3]),
        None => first(),
        _ => Err("usage: mq_demo2 (the second process is started by the first)".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mq_demo2: {e}");
            ExitCode::FAILURE
        }
    }
}

fn receive_text(q: &MessageQueue, buf: &mut [u8]) -> Result<String> {
    let (n, _prio) = q.receive_timeout(buf, TIMEOUT)?;
    Ok(std::str::from_utf8(&buf[..n])?.to_owned())
}

fn first() -> Result<()> {
    let pid = std::process::id();
    let (req_name, rep_name) = (
        format!("/ipc-demo2-req-{pid}"),
        format!("/ipc-demo2-rep-{pid}"),
    );
    // Created exclusively; these handles unlink the names when dropped.
    let requests = MessageQueue::create(&req_name, 4, 64)?;
    let replies = MessageQueue::create(&rep_name, 4, 64)?;
    println!("first  (pid {pid}): created {req_name} and {rep_name}");

    let mut second = Command::new(std::env::current_exe()?)
        .args(["--second", &req_name, &rep_name])
        .spawn()?;
    let mut buf = vec![0; replies.message_size()];
    let mut outcome = (|| -> Result<()> {
        for n in 0..ROUNDS {
            requests.send_timeout(n.to_string().as_bytes(), 0, TIMEOUT)?;
            let answer: u64 = receive_text(&replies, &mut buf)?.parse()?;
            println!("first : sent {n}, got {answer}");
            if answer != n + 1 {
                return Err(
                    format!("expected {} from the second process, got {answer}", n + 1).into(),
                );
            }
        }
        requests.send_timeout(b"quit", 0, TIMEOUT)?;
        Ok(())
    })();
    let status = second.wait()?;
    if outcome.is_ok() && !status.success() {
        outcome = Err(format!("second process failed: {status}").into());
    }
    outcome?;
    println!("first : {ROUNDS} round trips done; the queues are removed on exit");
    Ok(())
}

fn second(req_name: &str, rep_name: &str) -> Result<()> {
    let open = |name: &str, access| MqOptions::new().access(access).open(name);
    let requests = open(req_name, Access::ReadOnly)?;
    let replies = open(rep_name, Access::WriteOnly)?;
    let mut buf = vec![0; requests.message_size()];
    loop {
        let text = receive_text(&requests, &mut buf)?;
        if text == "quit" {
            println!("second (pid {}): quit", std::process::id());
            return Ok(());
        }
        let n: u64 = text.parse()?;
        replies.send_timeout((n + 1).to_string().as_bytes(), 0, TIMEOUT)?;
    }
}
