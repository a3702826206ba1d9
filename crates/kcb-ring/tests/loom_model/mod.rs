//! The loom driver shared by the `loom` and `loom_bytes` model tests.

/// Runs `f` under loom's model checker twice: pass 1 explores stale
/// (weak-memory) reads; pass 2 makes every load a read-modify-write so loom's
/// partial-order reduction cannot skip interleavings (see `kcb_ring`'s `sync`
/// module). Preemptions are bounded by `LOOM_MAX_PREEMPTIONS` if set, else by
/// `default_preemptions`. Each pass reports how many executions it explored.
pub fn model(default_preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let f = std::sync::Arc::new(f);
    for rmw_loads in [false, true] {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(default_preemptions);
        }
        kcb_ring::loom_set_rmw_loads(rmw_loads);
        let f = std::sync::Arc::clone(&f);
        let iterations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&iterations);
        builder.check(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            f();
        });
        kcb_ring::loom_set_rmw_loads(false);
        std::eprintln!(
            "  rmw_loads={rmw_loads}: {} executions",
            iterations.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
}
