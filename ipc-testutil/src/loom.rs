//! The loom driver of the model tests (`RUSTFLAGS="--cfg loom"` only).

/// Every interleaving (for the two-thread models).
pub const ALL: Option<usize> = None;

/// Runs `f` under loom with at most `bound` preemptions per execution (`None`: all
/// interleavings), unless `LOOM_MAX_PREEMPTIONS` says otherwise, and prints how many
/// executions loom explored (`--nocapture` shows it).
pub fn check(bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    // Polling loops and registry scans (the rings) make long paths; the default is 1000.
    b.max_branches = 20_000;
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        b.preemption_bound = bound;
    }
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = runs.clone();
    b.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    eprintln!(
        "{}: {} executions, preemption bound {:?}",
        std::thread::current().name().unwrap_or("?"),
        runs.load(std::sync::atomic::Ordering::Relaxed),
        b.preemption_bound
    );
}
