//! The shard's pool of pipes for splice(2). A direction holds a pipe only while bytes are in
//! flight and gives it back (empty) when it waits for its source, so idle connections hold
//! no pipe and no extra descriptors. Pipes that come back non-empty (an error mid-transfer)
//! are closed, never reused.

use crate::sys::Pipe;

pub struct PipePool {
    free: Vec<Pipe>,
    /// Pipes handed out and not yet returned.
    in_use: usize,
    /// Most pipes this shard may hold (its share of `maxpipes`).
    limit: usize,
    size: usize,
    /// Set once pipe creation failed (fd or pipe-memory limits): retried after a while.
    failed_at: Option<std::time::Instant>,
}

/// Idle pipes kept for reuse; more are closed on return.
const KEEP: usize = 256;

impl PipePool {
    pub fn new(size: usize, limit: usize) -> PipePool {
        PipePool {
            free: Vec::new(),
            in_use: 0,
            limit,
            size,
            failed_at: None,
        }
    }

    /// A pipe, or None when the shard's limit is reached or the kernel refuses: the caller
    /// then copies through user space for this chunk.
    pub fn get(&mut self) -> Option<Pipe> {
        if self.in_use >= self.limit {
            return None;
        }
        let p = match self.free.pop() {
            Some(p) => p,
            None => {
                if let Some(t) = self.failed_at {
                    if t.elapsed() < std::time::Duration::from_secs(1) {
                        return None;
                    }
                    self.failed_at = None;
                }
                match Pipe::new(self.size) {
                    Ok(p) => p,
                    Err(e) => {
                        log::warn!("cannot create a pipe for splicing ({e}); copying instead");
                        self.failed_at = Some(std::time::Instant::now());
                        return None;
                    }
                }
            }
        };
        self.in_use += 1;
        Some(p)
    }

    /// Returns an empty pipe.
    pub fn put(&mut self, p: Pipe) {
        self.in_use -= 1;
        if self.free.len() < KEEP {
            self.free.push(p);
        }
    }

    /// Gives up a pipe that may still hold bytes: it is closed.
    pub fn discard(&mut self, p: Pipe) {
        self.in_use -= 1;
        drop(p);
    }

    pub fn in_use(&self) -> usize {
        self.in_use
    }
}
