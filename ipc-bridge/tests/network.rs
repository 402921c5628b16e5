//! The link cut with both bridges alive: `out` reaches `in` through a TCP proxy on
//! 127.0.0.1 (in this test process) that the test stops (closing its listener and cutting
//! every connection, both directions) and starts again on the same port, several times at
//! random points of a free-running stream (seed printed, `IPC_TEST_SEED` replays). Zenoh
//! re-dials `out`'s connect endpoint, `out` sends again what `in` had not acknowledged,
//! and the consumer gets every frame exactly once, in order.

mod common;

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use ipc_collections::ByteRing;
use ipc_testutil::spawn_role;

const COUNT: u64 = 100_000;
const CAP: u64 = 1 << 16;

/// A TCP forwarder 127.0.0.1:port -> 127.0.0.1:target that can be stopped (listener
/// closed, every connection cut) and started again on the same port.
struct Proxy {
    port: u16,
    target: u16,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let mut p = Proxy {
            port,
            target,
            conns: Arc::new(Mutex::new(Vec::new())),
            accepted: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        p.serve(listener);
        p
    }

    fn serve(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).expect("nonblocking");
        let target = self.target;
        self.stop = Arc::new(AtomicBool::new(false));
        let (c, a, s) = (self.conns.clone(), self.accepted.clone(), self.stop.clone());
        self.thread = Some(thread::spawn(move || {
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
            // The listener closes here: a dial now is refused.
        }));
    }

    /// Stops: closes the listener and cuts every connection (both directions, both ends).
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("proxy thread");
        }
        for s in self.conns.lock().expect("proxy lock").drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Starts again on the same port.
    fn restart(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("rebind proxy port");
        self.serve(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn link_cut_mid_stream(test: &str, endpoint: fn(u16) -> String) {
    if ipc_testutil::role().as_deref() == Some("producer") {
        producer_role();
        return;
    }
    let n = names("net");
    let (bin, port) =
        Bridge::start_listening(|p| args("in", &n.b, &n.key, CAP, &["--listen", &endpoint(p)]));
    let mut proxy = Proxy::start(port);
    let bout = Bridge::start(&args(
        "out",
        &n.a,
        &n.key,
        CAP,
        &["--connect", &endpoint(proxy.port)],
    ));
    let ring = ByteRing::options()
        .capacity(CAP)
        .open_or_create(&n.b)
        .expect("ring B");
    let mut c = ring.consumer().expect("consumer");
    let cuts = ipc_testutil::kill_count(5);
    let mut rng = ipc_testutil::xorshift64(seed());
    let at = points(&mut rng, cuts, 2_000, COUNT - 2_000, 5_000);
    println!("{cuts} cuts at frames {at:?}");
    let producer = spawn_role(
        test,
        "producer",
        &[
            ("RING", &n.a),
            ("COUNT", &COUNT.to_string()),
            ("CAP", &CAP.to_string()),
            ("BURST", "0"),
        ],
    );
    let mut next_cut = 0;
    let seen = consume_until(&mut c, COUNT - 1, Duration::from_secs(60), |s| {
        if at.get(next_cut) == Some(&s.seqs.len()) {
            next_cut += 1;
            // Stopped and started at once: Zenoh notices the cut at once and re-dials
            // after 1 s, while the producer goes on.
            proxy.stop();
            proxy.restart();
        }
    });
    assert_eq!(
        producer.wait_output(WATCHDOG),
        vec![format!("sent {COUNT}")]
    );
    let accepted = proxy.accepted.load(Ordering::Relaxed);
    assert!(
        accepted > cuts,
        "Zenoh did not re-dial: {accepted} connections"
    );
    seen.assert_exactly_once(COUNT);
    ipc_testutil::wait_for("ring A released by acknowledgements", WATCHDOG, || {
        ipc_collections::ring::inspect(&n.a)
            .expect("inspect A")
            .1
            .len
            == Some(0)
    });

    let (eo, ei) = (bout.terminate(), bin.terminate());
    assert_eq!(eo.code, Some(0), "{}", eo.stderr);
    assert_eq!(ei.code, Some(0), "{}", ei.stderr);
    let (so, si) = (eo.stats(), ei.stats());
    println!("{test}: {cuts} cuts, {accepted} connections\nout {so}\nin {si}");
    // Both alive throughout: each counts every frame once.
    assert_eq!(si["frames"], COUNT, "{si}");
    assert_eq!(so["acked"], COUNT, "{so}");
    let distinct = so["frames"].as_u64().unwrap() - so["resent"].as_u64().unwrap();
    assert_eq!(distinct, COUNT, "{so}");
    // What `in` received beyond the frames it pushed is what `out` sent again.
    let extra = si["duplicates"].as_u64().unwrap() + si["gaps"].as_u64().unwrap();
    assert!(extra <= so["resent"].as_u64().unwrap(), "in {si}\nout {so}");
    for k in ["drops", "lost", "corrupted"] {
        assert_eq!(si[k], 0, "{k}: {si}");
    }
    assert_eq!(si["publishers"], 1, "{si}");
    assert!(si["reconnects"].as_u64().unwrap() >= 1, "{si}");
    assert!(
        so["reconnects"].as_u64().unwrap() >= 1,
        "{so}\n{}",
        eo.stderr
    );
}

/// Plain endpoints.
#[test]
fn link_cut_repeatedly_loses_nothing_and_duplicates_nothing() {
    link_cut_mid_stream(
        "link_cut_repeatedly_loses_nothing_and_duplicates_nothing",
        ep,
    );
}

/// Endpoints with socket options (`#so_sndbuf=..;so_rcvbuf=..`), as a tuned deployment has.
#[test]
fn link_cut_with_socket_options_loses_nothing_and_duplicates_nothing() {
    link_cut_mid_stream(
        "link_cut_with_socket_options_loses_nothing_and_duplicates_nothing",
        ep_pinned,
    );
}
