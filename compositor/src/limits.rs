//! Per-client limits: they trip long before anything global, and cut off
//! only the client that trips them, with a log line naming the limit.
//!
//! A shm pool is the client's own memory mapped into the compositor, so its
//! cost to wsbox is address space, which the pool-size and pool-count caps
//! bound; surfaces cost wsbox memory per object, which the surface cap
//! bounds.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest wl_shm pool, in bytes. Pools are address space, not memory, and
/// some clients reserve big ones (foot maps 512 MiB to scroll by offset).
pub const MAX_POOL_BYTES: i64 = 1 << 30;
/// Live wl_shm pools per client.
pub const MAX_POOLS: usize = 64;
/// Live wl_surfaces per client.
pub const MAX_SURFACES: usize = 4096;

/// A client's counters.
#[derive(Debug, Default)]
pub struct ClientLimits {
    pools: AtomicUsize,
    surfaces: AtomicUsize,
}

impl ClientLimits {
    /// Accounts a new pool of `size` bytes, or says why it is refused.
    pub fn add_pool(&self, size: i32) -> Result<(), String> {
        check_pool_size(size)?;
        let n = self.pools.fetch_add(1, Ordering::Relaxed) + 1;
        if n > MAX_POOLS {
            self.pools.fetch_sub(1, Ordering::Relaxed);
            return Err(format!("more than {MAX_POOLS} wl_shm pools"));
        }
        Ok(())
    }

    pub fn remove_pool(&self) {
        let _ = self
            .pools
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Accounts a new surface, or says why it is refused.
    pub fn add_surface(&self) -> Result<(), String> {
        let n = self.surfaces.fetch_add(1, Ordering::Relaxed) + 1;
        if n > MAX_SURFACES {
            return Err(format!("more than {MAX_SURFACES} wl_surfaces"));
        }
        Ok(())
    }

    pub fn remove_surface(&self) {
        let _ = self
            .surfaces
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// A pool size the compositor accepts.
pub fn check_pool_size(size: i32) -> Result<(), String> {
    if i64::from(size) > MAX_POOL_BYTES {
        return Err(format!(
            "wl_shm pool of {size} bytes exceeds the limit of {MAX_POOL_BYTES}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_capped_in_size_and_number() {
        let limits = ClientLimits::default();
        assert!(limits.add_pool(i32::MAX).is_err());
        for _ in 0..MAX_POOLS {
            limits.add_pool(4096).unwrap();
        }
        assert!(limits.add_pool(4096).is_err());
        limits.remove_pool();
        limits.add_pool(4096).unwrap();
    }

    #[test]
    fn surfaces_are_capped() {
        let limits = ClientLimits::default();
        for _ in 0..MAX_SURFACES {
            limits.add_surface().unwrap();
        }
        assert!(limits.add_surface().is_err());
    }
}
