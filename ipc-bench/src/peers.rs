//! The peer crates, built only with the `peers` feature (their builds are heavy: iceoryx2
//! alone is about 70 crates). Without it every peer row says "not built".
//!
//! iceoryx2 is measured as its authors advise: each publisher waits for its subscriber and
//! calls `update_connections()` before streaming (the first messages are lost otherwise),
//! streams losslessly (`enable_safe_overflow(false)`, `BackpressureStrategy::
//! RetryUntilDelivered`), and both processes point its root path into a temporary folder
//! and use a prefix of their own for its `/dev/shm` objects, all of which are removed
//! afterwards (it leaves its management segment behind on purpose).

/// A peer's implementation (or why there is none) and what must outlive it.
pub type Peer = (Result<Box<dyn Imp>, Unavail>, crate::measure::Keep);

use crate::measure::Imp;
use crate::scenarios::Unavail;

/// What a peer row says in a build without the feature.
#[cfg(not(feature = "peers"))]
fn not_built() -> Unavail {
    Unavail::NotBuilt("not built (build ipc-bench with --features peers)".into())
}

#[cfg(not(feature = "peers"))]
pub fn iceoryx2_spin() -> Peer {
    (Err(not_built()), vec![])
}
#[cfg(not(feature = "peers"))]
pub fn iceoryx2_u64() -> Peer {
    (Err(not_built()), vec![])
}
#[cfg(not(feature = "peers"))]
pub fn iceoryx2_bytes(_size: usize) -> Peer {
    (Err(not_built()), vec![])
}
#[cfg(not(feature = "peers"))]
pub fn ipc_channel_pingpong() -> Result<Box<dyn Imp>, Unavail> {
    Err(not_built())
}
#[cfg(not(feature = "peers"))]
pub fn ipc_channel_bytes(_size: usize) -> Result<Box<dyn Imp>, Unavail> {
    Err(not_built())
}
#[cfg(not(feature = "peers"))]
pub fn raw_sync_pingpong() -> Result<Box<dyn Imp>, Unavail> {
    Err(not_built())
}

#[cfg(feature = "peers")]
pub use with::*;

#[cfg(feature = "peers")]
mod with {
    use std::any::Any;
    use std::collections::HashSet;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use iceoryx2::port::update_connections::UpdateConnections;
    use iceoryx2::prelude::*;

    use crate::chan::{self, Bytes, Chan, Make};
    use crate::measure::Imp;
    use crate::proc::{Deadline, Worker};
    use crate::scenarios::Unavail;

    fn failed(e: impl std::fmt::Debug) -> String {
        format!("{e:?}")
    }

    // ---- iceoryx2 ----------------------------------------------------------------------

    /// A temporary root folder and `/dev/shm` prefix for iceoryx2, removed on drop (with
    /// any new `/dev/shm/iox2_*` object that appeared meanwhile).
    pub struct IoxEnv {
        root: PathBuf,
        prefix: String,
        before: HashSet<String>,
    }

    fn shm_entries() -> HashSet<String> {
        std::fs::read_dir("/dev/shm")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    impl IoxEnv {
        fn new(tag: &str) -> Result<IoxEnv, String> {
            let before = shm_entries();
            let id = ipc_testutil::unique_name(tag);
            let id = id.trim_start_matches('/').replace('-', "_");
            let root = std::env::temp_dir().join(format!("{id}_iox2"));
            std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
            Ok(IoxEnv {
                root,
                prefix: format!("{id}_"),
                before,
            })
        }

        fn config(&self) -> Result<Config, String> {
            let mut c = Config::default();
            let root = format!("{}/", self.root.display());
            c.global
                .set_root_path(&Path::new(root.as_bytes()).map_err(failed)?);
            c.global.prefix = FileName::new(self.prefix.as_bytes()).map_err(failed)?;
            Ok(c)
        }
    }

    impl Drop for IoxEnv {
        fn drop(&mut self) {
            for e in shm_entries() {
                if e.starts_with(&self.prefix)
                    || (e.starts_with("iox2_") && !self.before.contains(&e))
                {
                    let _ = std::fs::remove_file(format!("/dev/shm/{e}"));
                }
            }
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    type Node2 = Node<ipc::Service>;

    fn node(cfg: &Config) -> Result<Node2, String> {
        NodeBuilder::new()
            .config(cfg)
            .create::<ipc::Service>()
            .map_err(failed)
    }

    type PubSub<T> =
        iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, T, ()>;

    /// Opens or creates publish-subscribe service `$name` of payload `$t`, lossless, with
    /// subscriber buffers of `$buffer` samples.
    macro_rules! service {
        ($t:ty, $node:expr, $name:expr, $buffer:expr) => {
            $node
                .service_builder(&ServiceName::new($name).map_err(failed)?)
                .publish_subscribe::<$t>()
                .enable_safe_overflow(false)
                .subscriber_max_buffer_size($buffer)
                .history_size(0)
                .max_publishers(1)
                .max_subscribers(1)
                .open_or_create()
                .map_err(failed)
        };
    }

    /// Waits until the service has a subscriber (`subscribers()` counts them), then
    /// connects `publisher` to it.
    fn connect(
        subscribers: impl Fn() -> usize,
        publisher: &impl UpdateConnections,
    ) -> Result<(), String> {
        let end = Instant::now() + Duration::from_secs(10);
        while subscribers() < 1 {
            if Instant::now() > end {
                return Err("iceoryx2: no subscriber within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        publisher.update_connections().map_err(failed)
    }

    /// One end of a u64 pub-sub pair, receiving by busy-waiting.
    pub struct IoxU64 {
        _node: Node2,
        _svcs: Vec<PubSub<u64>>,
        tx: Option<iceoryx2::port::publisher::Publisher<ipc::Service, u64, ()>>,
        rx: Option<iceoryx2::port::subscriber::Subscriber<ipc::Service, u64, ()>>,
    }

    impl Chan for IoxU64 {
        fn send(&mut self, v: u64) -> Result<(), String> {
            self.tx
                .as_ref()
                .ok_or("receive-only end")?
                .send_copy(v)
                .map(drop)
                .map_err(failed)
        }
        fn recv(&mut self) -> Result<u64, String> {
            let rx = self.rx.as_ref().ok_or("send-only end")?;
            let mut d = Deadline::new();
            loop {
                if let Some(s) = rx.receive().map_err(failed)? {
                    return Ok(*s.payload());
                }
                std::hint::spin_loop();
                d.check("iceoryx2")?;
            }
        }
    }

    /// Publisher on `tx` (if any) and subscriber on `rx` (if any).
    fn iox_end(
        cfg: &Config,
        tx: Option<&str>,
        rx: Option<&str>,
        buffer: usize,
    ) -> Result<IoxU64, String> {
        let node = node(cfg)?;
        let mut svcs = Vec::new();
        let mut publisher = None;
        let mut subscriber = None;
        if let Some(n) = rx {
            let s = service!(u64, node, n, buffer)?;
            subscriber = Some(
                s.subscriber_builder()
                    .buffer_size(buffer)
                    .create()
                    .map_err(failed)?,
            );
            svcs.push(s);
        }
        if let Some(n) = tx {
            let s = service!(u64, node, n, buffer)?;
            let p = s
                .publisher_builder()
                .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                .create()
                .map_err(failed)?;
            connect(|| s.dynamic_config().number_of_subscribers(), &p)?;
            publisher = Some(p);
            svcs.push(s);
        }
        Ok(IoxU64 {
            _node: node,
            _svcs: svcs,
            tx: publisher,
            rx: subscriber,
        })
    }

    fn with_env(tag: &str, f: impl FnOnce(&IoxEnv) -> Result<Box<dyn Imp>, String>) -> super::Peer {
        match IoxEnv::new(tag) {
            Ok(env) => {
                let r = f(&env).map_err(Unavail::Failed);
                (r, vec![Box::new(env) as Box<dyn Any>])
            }
            Err(e) => (Err(Unavail::Failed(e)), vec![]),
        }
    }

    /// Scenario 2: a busy-waiting round trip over two u64 services. The worker subscribes
    /// to "ping" and publishes on "pong"; each publisher waits for its subscriber.
    pub fn iceoryx2_spin() -> super::Peer {
        with_env("bench-iox", |env| {
            let (c1, c2) = (env.config()?, env.config()?);
            let make: Make<IoxU64> = Box::new(move || iox_end(&c2, Some("pong"), Some("ping"), 2));
            chan::pingpong(
                "iceoryx2",
                move |w: &mut Worker| {
                    // Our subscriber first, so the worker's publisher finds it; then the
                    // worker's subscriber, which ours waits for.
                    let node = node(&c1)?;
                    let pong = service!(u64, node, "pong", 2)?;
                    let sub = pong
                        .subscriber_builder()
                        .buffer_size(2)
                        .create()
                        .map_err(failed)?;
                    chan::setup_child(w)?;
                    let ping = service!(u64, node, "ping", 2)?;
                    let p = ping
                        .publisher_builder()
                        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                        .create()
                        .map_err(failed)?;
                    connect(|| ping.dynamic_config().number_of_subscribers(), &p)?;
                    Ok(IoxU64 {
                        _node: node,
                        _svcs: vec![pong, ping],
                        tx: Some(p),
                        rx: Some(sub),
                    })
                },
                make,
            )
        })
    }

    /// Scenario 4: u64 samples by `send_copy`, the worker busy-polls.
    pub fn iceoryx2_u64() -> super::Peer {
        with_env("bench-iox", |env| {
            let (c1, c2) = (env.config()?, env.config()?);
            let make: Make<IoxU64> = Box::new(move || iox_end(&c2, None, Some("u64"), 256));
            chan::stream(
                "iceoryx2",
                move |w: &mut Worker| {
                    chan::setup_child(w)?;
                    iox_end(&c1, Some("u64"), None, 256)
                },
                make,
            )
        })
    }

    /// One end of a byte-slice pub-sub service.
    pub struct IoxBytes {
        _node: Node2,
        _svc: PubSub<[u8]>,
        tx: Option<iceoryx2::port::publisher::Publisher<ipc::Service, [u8], ()>>,
        rx: Option<iceoryx2::port::subscriber::Subscriber<ipc::Service, [u8], ()>>,
    }

    impl Bytes for IoxBytes {
        fn send(&mut self, msg: &[u8]) -> Result<(), String> {
            let p = self.tx.as_ref().ok_or("receive-only end")?;
            let s = p.loan_slice_uninit(msg.len()).map_err(failed)?;
            s.write_from_slice(msg).send().map(drop).map_err(failed)
        }
        fn recv(&mut self, buf: &mut [u8]) -> Result<(), String> {
            let rx = self.rx.as_ref().ok_or("send-only end")?;
            let mut d = Deadline::new();
            loop {
                if let Some(s) = rx.receive().map_err(failed)? {
                    let p = s.payload();
                    if p.len() != buf.len() {
                        return Err(format!(
                            "iceoryx2: {} bytes, expected {}",
                            p.len(),
                            buf.len()
                        ));
                    }
                    buf.copy_from_slice(p);
                    return Ok(());
                }
                std::hint::spin_loop();
                d.check("iceoryx2")?;
            }
        }
    }

    fn iox_bytes_end(cfg: &Config, size: usize, publisher: bool) -> Result<IoxBytes, String> {
        let node = node(cfg)?;
        let buffer = if size >= 1 << 20 { 8 } else { 64 };
        let svc = service!([u8], node, "bytes", buffer)?;
        let (mut tx, mut rx) = (None, None);
        if publisher {
            let p = svc
                .publisher_builder()
                .initial_max_slice_len(size)
                .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                .create()
                .map_err(failed)?;
            connect(|| svc.dynamic_config().number_of_subscribers(), &p)?;
            tx = Some(p);
        } else {
            rx = Some(
                svc.subscriber_builder()
                    .buffer_size(buffer)
                    .create()
                    .map_err(failed)?,
            );
        }
        Ok(IoxBytes {
            _node: node,
            _svc: svc,
            tx,
            rx,
        })
    }

    /// Scenario 5: `size`-byte slices, loaned, filled from the producer's buffer, sent; the
    /// worker copies each into its own buffer.
    pub fn iceoryx2_bytes(size: usize) -> super::Peer {
        with_env("bench-iox", |env| {
            let (c1, c2) = (env.config()?, env.config()?);
            let make: Make<IoxBytes> = Box::new(move || iox_bytes_end(&c2, size, false));
            chan::byte_stream(
                "iceoryx2",
                size,
                move |w: &mut Worker| {
                    chan::setup_child(w)?;
                    iox_bytes_end(&c1, size, true)
                },
                make,
            )
        })
    }

    // ---- ipc-channel ---------------------------------------------------------------------

    pub struct IpcChan {
        tx: ipc_channel::ipc::IpcSender<u64>,
        rx: ipc_channel::ipc::IpcReceiver<u64>,
    }

    impl Chan for IpcChan {
        fn send(&mut self, v: u64) -> Result<(), String> {
            self.tx.send(v).map_err(failed)
        }
        fn recv(&mut self) -> Result<u64, String> {
            self.rx.recv().map_err(failed)
        }
    }

    /// Scenario 3: two `ipc::channel::<u64>()`s made before the fork.
    pub fn ipc_channel_pingpong() -> Result<Box<dyn Imp>, Unavail> {
        let go = || -> Result<Box<dyn Imp>, String> {
            let (a_tx, a_rx) = ipc_channel::ipc::channel::<u64>().map_err(failed)?;
            let (b_tx, b_rx) = ipc_channel::ipc::channel::<u64>().map_err(failed)?;
            let child = IpcChan { tx: b_tx, rx: a_rx };
            chan::pingpong(
                "ipc-channel",
                move |_| Ok(IpcChan { tx: a_tx, rx: b_rx }),
                Box::new(move || Ok(child)),
            )
        };
        go().map_err(Unavail::Failed)
    }

    pub struct IpcBytes {
        tx: Option<ipc_channel::ipc::IpcBytesSender>,
        rx: Option<ipc_channel::ipc::IpcBytesReceiver>,
    }

    impl Bytes for IpcBytes {
        fn send(&mut self, msg: &[u8]) -> Result<(), String> {
            self.tx
                .as_ref()
                .ok_or("receive-only end")?
                .send(msg)
                .map_err(failed)
        }
        fn recv(&mut self, buf: &mut [u8]) -> Result<(), String> {
            let v = self
                .rx
                .as_ref()
                .ok_or("send-only end")?
                .recv()
                .map_err(failed)?;
            if v.len() != buf.len() {
                return Err(format!(
                    "ipc-channel: {} bytes, expected {}",
                    v.len(),
                    buf.len()
                ));
            }
            buf.copy_from_slice(&v);
            Ok(())
        }
    }

    /// Scenario 5: an `ipc::bytes_channel()` made before the fork.
    pub fn ipc_channel_bytes(size: usize) -> Result<Box<dyn Imp>, Unavail> {
        let go = || -> Result<Box<dyn Imp>, String> {
            let (tx, rx) = ipc_channel::ipc::bytes_channel().map_err(failed)?;
            let child = IpcBytes {
                tx: None,
                rx: Some(rx),
            };
            chan::byte_stream(
                "ipc-channel",
                size,
                move |_| {
                    Ok(IpcBytes {
                        tx: Some(tx),
                        rx: None,
                    })
                },
                Box::new(move || Ok(child)),
            )
        };
        go().map_err(Unavail::Failed)
    }

    // ---- shared_memory + raw_sync ----------------------------------------------------------

    /// Two auto-reset `raw_sync` events (a pthread mutex + condvar each) in a
    /// `shared_memory` segment, one a direction.
    pub struct RawSync {
        _shm: shared_memory::Shmem,
        tx: Box<dyn raw_sync::events::EventImpl>,
        rx: Box<dyn raw_sync::events::EventImpl>,
    }

    impl Chan for RawSync {
        fn send(&mut self, _: u64) -> Result<(), String> {
            self.tx
                .set(raw_sync::events::EventState::Signaled)
                .map_err(|e| e.to_string())
        }
        fn recv(&mut self) -> Result<u64, String> {
            self.rx
                .wait(raw_sync::Timeout::Val(crate::proc::WATCHDOG))
                .map_err(|e| e.to_string())?;
            Ok(0)
        }
    }

    const EVENT_B: usize = 256;

    /// Scenario 3: the parent creates the segment and both events; the worker opens the
    /// segment by its id and the events in place.
    pub fn raw_sync_pingpong() -> Result<Box<dyn Imp>, Unavail> {
        use raw_sync::events::{Event, EventInit};
        let go = || -> Result<Box<dyn Imp>, String> {
            let shm = shared_memory::ShmemConf::new()
                .size(4096)
                .create()
                .map_err(|e| e.to_string())?;
            let id = shm.get_os_id().to_owned();
            let base = shm.as_ptr();
            // SAFETY: the segment is 4096 bytes, fresh and page-aligned; each event takes
            // far less than 256 bytes at offsets 0 and 256, and lives as long as `shm`
            // (kept in the same RawSync).
            let (a, b) = unsafe {
                let (a, _) = Event::new(base, true).map_err(|e| e.to_string())?;
                let (b, _) = Event::new(base.add(EVENT_B), true).map_err(|e| e.to_string())?;
                (a, b)
            };
            let parent = RawSync {
                _shm: shm,
                tx: a,
                rx: b,
            };
            chan::pingpong(
                "shared_memory+raw_sync",
                move |_| Ok(parent),
                Box::new(move || {
                    let shm = shared_memory::ShmemConf::new()
                        .os_id(&id)
                        .open()
                        .map_err(|e| e.to_string())?;
                    if shm.len() < 2 * EVENT_B {
                        return Err("shared_memory: segment too small".into());
                    }
                    let base = shm.as_ptr();
                    // SAFETY: the segment holds the two events the parent initialised at
                    // offsets 0 and 256 (length checked above); `shm` outlives them.
                    let (a, b) = unsafe {
                        let (a, _) = Event::from_existing(base).map_err(|e| e.to_string())?;
                        let (b, _) =
                            Event::from_existing(base.add(EVENT_B)).map_err(|e| e.to_string())?;
                        (a, b)
                    };
                    Ok(RawSync {
                        _shm: shm,
                        tx: b,
                        rx: a,
                    })
                }),
            )
        };
        go().map_err(Unavail::Failed)
    }
}
