//! Shards: one glommio `LocalExecutor` per core, pinned.

use std::future::Future;

use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};

/// The CPU each shard is pinned to (`None` when the host's cores cannot be listed).
///
/// Call before any executor starts: inside a pinned executor `core_affinity` sees one core.
pub fn shard_cpus(requested: Option<usize>) -> Result<Vec<Option<usize>>, String> {
    if requested == Some(0) {
        return Err("--cpus must be at least 1".to_string());
    }
    let cores: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let n = requested.unwrap_or(cores.len().max(1));
    Ok((0..n)
        .map(|i| (!cores.is_empty()).then(|| cores[i % cores.len()]))
        .collect())
}

/// Starts one executor thread per entry of `cpus`, running `make(shard_index)`'s future.
pub fn spawn_shards<G, F, T>(
    name: &str,
    cpus: &[Option<usize>],
    mut make: impl FnMut(usize) -> G,
) -> Result<Vec<ExecutorJoinHandle<T>>, String>
where
    G: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    cpus.iter()
        .enumerate()
        .map(|(i, cpu)| {
            let placement = cpu.map_or(Placement::Unbound, Placement::Fixed);
            LocalExecutorBuilder::new(placement)
                .name(&format!("{name}-{i}"))
                .spawn(make(i))
                .map_err(|e| format!("starting shard {i}: {e}"))
        })
        .collect()
}
