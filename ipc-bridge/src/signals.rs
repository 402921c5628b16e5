//! SIGINT/SIGTERM as a flag: the signals are blocked in every thread and read from a
//! signalfd by one thread, which sets the flag the bridge's loops poll.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ipc_core::signal::{mask, SigSet, Signal, SignalFd};

use crate::Error;

/// Set once SIGINT or SIGTERM arrived.
#[derive(Debug, Clone)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// A flag nothing sets (for code that runs without signals, such as tests).
    pub fn never() -> Stop {
        Stop(Arc::new(AtomicBool::new(false)))
    }

    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        // Relaxed: the flag carries no data; a loop that sees it late by one poll is fine.
        self.0.load(Ordering::Relaxed)
    }

    /// Requests a stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread it starts
/// afterwards: call this first in `main`, before Zenoh starts its threads) and starts the
/// thread that turns them into [`Stop`].
///
/// # Errors
/// [`Error::Os`] if `pthread_sigmask`, `signalfd` or the thread's spawn fails.
pub fn install() -> Result<Stop, Error> {
    let os = |what: &str, e: &dyn std::fmt::Display| Error::Os(format!("{what}: {e}"));
    let set = SigSet::empty().with(Signal::INT).with(Signal::TERM);
    mask::block(&set).map_err(|e| os("blocking SIGINT/SIGTERM", &e))?;
    let fd = SignalFd::new(&set).map_err(|e| os("signalfd", &e))?;
    let stop = Stop::never();
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            match fd.read_timeout(None) {
                Ok(Some(_)) => return flag.request(),
                Ok(None) => {}
                Err(e) => {
                    eprintln!("ipc-bridge: reading signals failed ({e}); stopping");
                    return flag.request();
                }
            }
        })
        .map_err(|e| os("spawning the signal thread", &e))?;
    Ok(stop)
}
