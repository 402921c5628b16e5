//! A network drop with both bridges alive: `out` reaches `in` through a TCP proxy on
//! 127.0.0.1 (in this test process) that cuts every connection mid-stream. Zenoh re-dials
//! `out`'s connect endpoint, the stream goes on, and the loss is one run of frames in
//! transit, which `in` counts exactly (same publisher, so it sees the jump in `seq`).

mod common;

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use ipc_collections::ByteRing;
use ipc_testutil::{spawn_role, unique_name, Cleanup};

const COUNT: u64 = 100_000;
const CAP: u64 = 1 << 16;

/// A TCP forwarder 127.0.0.1:port -> 127.0.0.1:target that can cut every connection.
struct Proxy {
    port: u16,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, a, s) = (conns.clone(), accepted.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    Err(e) => panic!("proxy accept: {e}"),
                };
                client.set_nonblocking(false).expect("blocking");
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                a.fetch_add(1, Ordering::Relaxed);
                let mut conns = c.lock().expect("proxy lock");
                for (mut from, mut to) in [
                    (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    ),
                    (
                        server.try_clone().expect("clone"),
                        client.try_clone().expect("clone"),
                    ),
                ] {
                    thread::spawn(move || {
                        let _ = io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
                conns.extend([client, server]);
            }
        });
        Proxy {
            port,
            conns,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    /// Cuts every connection made so far (both directions, both ends).
    fn cut(&self) {
        for s in self.conns.lock().expect("proxy lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn link_cut_mid_stream(test: &str, endpoint: fn(u16) -> String) {
    if ipc_testutil::role().as_deref() == Some("producer") {
        producer_role();
        return;
    }
    let (a, b) = (unique_name("netA"), unique_name("netB"));
    let _clean = [Cleanup::shm(&a), Cleanup::shm(&b)];
    let key = format!("ipct/bridge{}", b.replace('/', "-"));
    let (bin, port) =
        Bridge::start_listening(|p| args("in", &b, &key, CAP, &["--listen", &endpoint(p)]));
    let proxy = Proxy::start(port);
    let bout = Bridge::start(&args(
        "out",
        &a,
        &key,
        CAP,
        &["--connect", &endpoint(proxy.port)],
    ));
    let ring = ByteRing::options()
        .capacity(CAP)
        .open_or_create(&b)
        .expect("ring B");
    let mut c = ring.consumer().expect("consumer");
    let producer = spawn_role(
        test,
        "producer",
        &[
            ("RING", &a),
            ("COUNT", &COUNT.to_string()),
            ("CAP", &CAP.to_string()),
            ("BURST", "50"),
        ],
    );
    let seen = consume_until(&mut c, COUNT - 1, Duration::from_secs(60), |s| {
        if s.seqs.len() == 20_000 {
            proxy.cut();
        }
    });
    assert_eq!(
        producer.wait_output(WATCHDOG),
        vec![format!("sent {COUNT}")]
    );
    assert!(
        proxy.accepted.load(Ordering::Relaxed) >= 2,
        "Zenoh did not re-dial"
    );
    let gaps = seen.gaps(COUNT);
    assert!(gaps.len() <= 1, "more than one run lost: {gaps:?}");
    let lost = gaps.first().map_or(0, |g| g.1);
    assert!(lost <= transit_bound(), "lost {lost} > {}", transit_bound());
    eprintln!(
        "{test}: link cut, lost {lost} of {COUNT} frames (bound {})",
        transit_bound()
    );

    let (eo, ei) = (bout.terminate(), bin.terminate());
    assert_eq!(eo.code, Some(0), "{}", eo.stderr);
    assert_eq!(ei.code, Some(0), "{}", ei.stderr);
    let (so, si) = (eo.stats(), ei.stats());
    assert_eq!(si["lost"], lost, "in's count of lost frames: {si}");
    assert_eq!(si["frames"], COUNT - lost, "{si}");
    assert_eq!(si["publishers"], 1, "{si}");
    assert_eq!(si["reordered"], 0, "{si}");
    assert_eq!(si["corrupted"], 0, "{si}");
    assert_eq!(si["reconnects"], 1, "{si}");
    assert_eq!(so["reconnects"], 1, "{so}\n{}", eo.stderr);
}

/// Plain endpoints.
#[test]
fn link_cut_mid_stream_is_redialed_and_loses_one_run() {
    link_cut_mid_stream("link_cut_mid_stream_is_redialed_and_loses_one_run", ep);
}

/// Endpoints with socket options (`#so_sndbuf=..;so_rcvbuf=..`), as a tuned deployment has.
#[test]
fn link_cut_with_socket_options_is_redialed_and_loses_one_run() {
    link_cut_mid_stream(
        "link_cut_with_socket_options_is_redialed_and_loses_one_run",
        ep_pinned,
    );
}
