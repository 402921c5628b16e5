//! POSIX message-queue speed, to stand beside the ring buffers.
//!
//! - `mq/same_process_send_receive`: one 16-byte send and one receive on the same queue,
//!   no other process involved (the cost of the two system calls and the copy).
//! - `mq/cross_process_round_trip`: a 16-byte request to a forked echo server over one
//!   queue and its answer over another (two wake-ups of a sleeping process per iteration).
//!
//! Run: `cargo bench -p typed-ipc-core --bench mq -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ipc_core::mq::MessageQueue;
use ipc_testutil::{fork_child, unique_name, wait_pid, Cleanup};

const MSG: &[u8; 16] = b"0123456789abcdef";

fn same_process(c: &mut Criterion) {
    let name = unique_name("bench-mq");
    let _c = Cleanup::mq(&name);
    let q = MessageQueue::create(&name, 8, 64).expect("create queue");
    let mut buf = [0u8; 64];
    c.bench_function("mq/same_process_send_receive", |b| {
        b.iter(|| {
            q.send(black_box(MSG), 1).unwrap();
            black_box(q.receive(&mut buf).unwrap());
        })
    });
}

fn cross_process(c: &mut Criterion) {
    let (req_name, rep_name) = (unique_name("bench-req"), unique_name("bench-rep"));
    let _c = (Cleanup::mq(&req_name), Cleanup::mq(&rep_name));
    let requests = MessageQueue::create(&req_name, 8, 64).expect("create queue");
    let replies = MessageQueue::create(&rep_name, 8, 64).expect("create queue");
    // The echo server: answers every request until `quit`; gives up if the benchmark
    // process goes quiet for a minute (so it never outlives a crashed parent for long).
    let server = fork_child(|| {
        let mut buf = [0u8; 64];
        loop {
            let Ok((n, prio)) = requests.receive_timeout(&mut buf, Duration::from_secs(60)) else {
                return false;
            };
            if &buf[..n] == b"quit" {
                return true;
            }
            if replies.send(&buf[..n], prio).is_err() {
                return false;
            }
        }
    });
    let mut buf = [0u8; 64];
    c.bench_function("mq/cross_process_round_trip", |b| {
        b.iter(|| {
            requests.send(black_box(MSG), 1).unwrap();
            black_box(replies.receive(&mut buf).unwrap());
        })
    });
    requests.send(b"quit", 0).unwrap();
    assert_eq!(
        wait_pid(server, Duration::from_secs(30)),
        Some(0),
        "echo server failed"
    );
}

criterion_group!(benches, same_process, cross_process);
criterion_main!(benches);
