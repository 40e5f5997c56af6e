//! Per-client limits: they trip long before anything global, and cut off
//! only the client that trips them, with a log line naming the limit.
//!
//! A shm pool is the client's memfd mapped into the compositor. Mapping it
//! costs only address space, but the compositor reads the buffers it
//! shows (rendering, screenshots), and reading a hole of a sparse memfd
//! allocates the page, charged to wsbox: a pool counts as memory wsbox may
//! come to hold, so its bytes are capped per client and per sandbox.
//! Surfaces, regions and the like cost wsbox memory per object, which the
//! other caps bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use smithay::reexports::wayland_server::backend::ObjectId;

/// Largest wl_shm pool, in bytes. Pools are address space, not memory, and
/// some clients reserve big ones (foot maps 512 MiB to scroll by offset).
pub const MAX_POOL_BYTES: i64 = 1 << 30;
/// wl_shm pools per client whose mappings live (the pool object, or a
/// buffer made from it).
pub const MAX_POOLS: usize = 64;
/// The same for the sandbox's Xwayland, which makes one pool per window
/// buffer of all the X11 clients together; their bytes stay capped as any
/// client's.
pub const MAX_XWAYLAND_POOLS: usize = 1024;
/// Live wl_surfaces per client.
pub const MAX_SURFACES: usize = 4096;
/// Bytes of all of a client's wl_shm pools together, as long as their
/// mappings live: what it may make the compositor map (foot alone maps
/// 512 MiB).
pub const MAX_SHM_BYTES: u64 = 1 << 30;
/// Bytes of the wl_shm pools of all the clients of one sandbox together.
pub const MAX_SANDBOX_SHM_BYTES: u64 = 2 << 30;

/// Rectangles of all of a client's live wl_regions together (one region
/// holds at most `handlers::guards::MAX_REGION_RECTS`).
pub const MAX_REGION_RECTS_PER_CLIENT: usize = 16384;
/// Damage rectangles a surface keeps until its commit; past them its
/// damage is the whole surface.
pub const MAX_DAMAGE_RECTS: usize = 64;

/// xdg_activation tokens kept at a time (all clients), and how long one
/// is valid.
pub const MAX_ACTIVATION_TOKENS: usize = 64;
pub const ACTIVATION_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10);

/// MIME types one data source (clipboard, primary selection) may offer,
/// and the longest one; past them an offer is ignored.
pub const MAX_MIME_TYPES: usize = 64;
pub const MAX_MIME_BYTES: usize = 256;

/// Wayland connections of one sandbox at a time (enforced where a client
/// is inserted, `State::insert_client`): each has the limits above.
pub const MAX_CLIENTS: usize = 64;

// Enforced in the vendored wayland-backend (vendor/wayland-backend), which
// owns the buffers; repeated here so that one file lists every limit.
/// Objects per client (highest object id).
pub const MAX_OBJECTS: u32 = 65536;
/// Objects the compositor created for a client (wl_data_offer...) that it
/// has not destroyed.
pub const MAX_SERVER_OBJECTS: u32 = 16384;
/// fds a client sent that no message has used yet.
pub const MAX_PENDING_FDS: usize = 128;
/// The compositor's buffer of events not yet written to a client; behind it
/// the kernel's socket buffer. A client that does not read is cut off when
/// both are full.
pub const MAX_OUTGOING_BYTES: usize = 4096;

/// A client's counters.
#[derive(Debug)]
pub struct ClientLimits {
    pools: AtomicUsize,
    max_pools: usize,
    surfaces: AtomicUsize,
    shm_bytes: AtomicU64,
    /// The pool bytes of every client of the sandbox (shared).
    sandbox_shm_bytes: Arc<AtomicU64>,
    region_rects: AtomicUsize,
    /// MIME types offered per live data source.
    mime_types: Mutex<HashMap<ObjectId, usize>>,
    /// The pools whose mappings live (their object, or a buffer made from
    /// them), and which pool each live shm buffer came from.
    pool_accounts: Mutex<PoolAccounts>,
}

#[derive(Debug, Default)]
struct PoolAccounts {
    pools: HashMap<ObjectId, PoolAccount>,
    buffers: HashMap<ObjectId, ObjectId>,
}

#[derive(Debug)]
struct PoolAccount {
    size: i32,
    buffers: usize,
    destroyed: bool,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self::new(Arc::default())
    }
}

impl ClientLimits {
    /// The counters of a new client; `sandbox_shm_bytes` is shared by all
    /// the clients of the sandbox.
    pub fn new(sandbox_shm_bytes: Arc<AtomicU64>) -> Self {
        Self::with_pools(sandbox_shm_bytes, MAX_POOLS)
    }

    /// The counters of a new client that may have `max_pools` pools.
    pub fn with_pools(sandbox_shm_bytes: Arc<AtomicU64>, max_pools: usize) -> Self {
        Self {
            pools: AtomicUsize::default(),
            max_pools,
            surfaces: AtomicUsize::default(),
            shm_bytes: AtomicU64::default(),
            sandbox_shm_bytes,
            region_rects: AtomicUsize::default(),
            mime_types: Mutex::default(),
            pool_accounts: Mutex::default(),
        }
    }

    /// Accounts a new pool of `size` bytes, or says why it is refused.
    pub fn add_pool(&self, size: i32) -> Result<(), String> {
        check_pool_size(size)?;
        let n = self.pools.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.max_pools {
            self.pools.fetch_sub(1, Ordering::Relaxed);
            return Err(format!("more than {} wl_shm pools", self.max_pools));
        }
        if let Err(why) = self.grow_shm(0, size) {
            self.pools.fetch_sub(1, Ordering::Relaxed);
            return Err(why);
        }
        Ok(())
    }

    /// Accounts a pool growing from `old` to `new` bytes, or says why not.
    pub fn grow_shm(&self, old: i32, new: i32) -> Result<(), String> {
        let old = u64::try_from(old).unwrap_or(0);
        let new = u64::try_from(new).unwrap_or(0);
        let extra = new.saturating_sub(old);
        let total = self.shm_bytes.fetch_add(extra, Ordering::Relaxed) + extra;
        if total > MAX_SHM_BYTES {
            self.shm_bytes.fetch_sub(extra, Ordering::Relaxed);
            return Err(format!(
                "more than {MAX_SHM_BYTES} bytes in wl_shm pools ({total} asked)"
            ));
        }
        let sandbox = self.sandbox_shm_bytes.fetch_add(extra, Ordering::Relaxed) + extra;
        if sandbox > MAX_SANDBOX_SHM_BYTES {
            self.sandbox_shm_bytes.fetch_sub(extra, Ordering::Relaxed);
            self.shm_bytes.fetch_sub(extra, Ordering::Relaxed);
            return Err(format!(
                "more than {MAX_SANDBOX_SHM_BYTES} bytes in the wl_shm pools of all the \
                 sandbox's clients ({sandbox} asked)"
            ));
        }
        Ok(())
    }

    /// A pool of `size` bytes is gone.
    pub fn remove_pool(&self, size: i32) {
        let _ = self
            .pools
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        let size = u64::try_from(size).unwrap_or(0);
        let mut released = 0;
        let _ = self
            .shm_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                released = n.min(size);
                Some(n - released)
            });
        release(&self.sandbox_shm_bytes, released);
    }

    /// Remembers the size of a pool object that [`Self::add_pool`] accounted.
    pub fn pool_created(&self, pool: ObjectId, size: i32) {
        if let Ok(mut pools) = self.pool_accounts.lock() {
            pools.pools.insert(
                pool,
                PoolAccount {
                    size,
                    buffers: 0,
                    destroyed: false,
                },
            );
        }
    }

    /// A wl_buffer was made from `pool`: the pool's mapping lives as long as
    /// the buffer does.
    pub fn buffer_created(&self, buffer: ObjectId, pool: &ObjectId) {
        if let Ok(mut accounts) = self.pool_accounts.lock() {
            if let Some(account) = accounts.pools.get_mut(pool) {
                account.buffers += 1;
                accounts.buffers.insert(buffer, pool.clone());
            }
        }
    }

    /// Accounts `pool` being resized to `new` bytes, or says why not.
    pub fn resize_pool(&self, pool: &ObjectId, new: i32) -> Result<(), String> {
        check_pool_size(new)?;
        let Ok(mut accounts) = self.pool_accounts.lock() else {
            return Ok(());
        };
        let Some(account) = accounts.pools.get_mut(pool) else {
            return Ok(());
        };
        self.grow_shm(account.size, new)?;
        account.size = new.max(account.size);
        Ok(())
    }

    /// The wl_shm_pool object is destroyed; its bytes are released once its
    /// buffers are gone too.
    pub fn pool_destroyed(&self, pool: &ObjectId) {
        let released = self.pool_accounts.lock().ok().and_then(|mut accounts| {
            let account = accounts.pools.get_mut(pool)?;
            account.destroyed = true;
            (account.buffers == 0)
                .then(|| accounts.pools.remove(pool))
                .flatten()
        });
        if let Some(account) = released {
            self.remove_pool(account.size);
        }
    }

    /// A wl_buffer is destroyed; the last one of a destroyed pool releases it.
    pub fn buffer_destroyed(&self, buffer: &ObjectId) {
        let released = self.pool_accounts.lock().ok().and_then(|mut accounts| {
            let pool = accounts.buffers.remove(buffer)?;
            let account = accounts.pools.get_mut(&pool)?;
            account.buffers = account.buffers.saturating_sub(1);
            (account.destroyed && account.buffers == 0)
                .then(|| accounts.pools.remove(&pool))
                .flatten()
        });
        if let Some(account) = released {
            self.remove_pool(account.size);
        }
    }

    /// Bytes in the client's live pools.
    pub fn shm_bytes(&self) -> u64 {
        self.shm_bytes.load(Ordering::Relaxed)
    }

    /// Accounts a new surface, or says why it is refused.
    pub fn add_surface(&self) -> Result<(), String> {
        let n = self.surfaces.fetch_add(1, Ordering::Relaxed) + 1;
        if n > MAX_SURFACES {
            return Err(format!("more than {MAX_SURFACES} wl_surfaces"));
        }
        Ok(())
    }

    /// Accounts one more rectangle in one of the client's regions.
    pub fn add_region_rect(&self) -> Result<(), String> {
        let n = self.region_rects.fetch_add(1, Ordering::Relaxed) + 1;
        if n > MAX_REGION_RECTS_PER_CLIENT {
            self.region_rects.fetch_sub(1, Ordering::Relaxed);
            return Err(format!(
                "more than {MAX_REGION_RECTS_PER_CLIENT} rectangles in its wl_regions"
            ));
        }
        Ok(())
    }

    /// Whether `source` may offer one more MIME type (and counts it).
    pub fn add_mime_type(&self, source: ObjectId) -> bool {
        let Ok(mut counts) = self.mime_types.lock() else {
            return false;
        };
        let n = counts.entry(source).or_insert(0);
        if *n >= MAX_MIME_TYPES {
            return false;
        }
        *n += 1;
        true
    }

    /// A data source is destroyed.
    pub fn source_gone(&self, source: &ObjectId) {
        if let Ok(mut counts) = self.mime_types.lock() {
            counts.remove(source);
        }
    }

    /// A region of `n` rectangles is destroyed.
    pub fn remove_region_rects(&self, n: usize) {
        let _ = self
            .region_rects
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                Some(r.saturating_sub(n))
            });
    }

    pub fn remove_surface(&self) {
        let _ = self
            .surfaces
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

impl Drop for ClientLimits {
    /// The client is gone, and with it the mappings of its pools.
    fn drop(&mut self) {
        release(
            &self.sandbox_shm_bytes,
            self.shm_bytes.load(Ordering::Relaxed),
        );
    }
}

fn release(counter: &AtomicU64, bytes: u64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
        Some(n.saturating_sub(bytes))
    });
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
        limits.remove_pool(4096);
        limits.add_pool(4096).unwrap();
    }

    #[test]
    fn shm_bytes_are_capped_across_pools_and_resizes() {
        let limits = ClientLimits::default();
        limits.add_pool(1 << 29).unwrap();
        limits.add_pool(1 << 29).unwrap();
        assert_eq!(limits.shm_bytes(), 1 << 30);
        assert!(limits
            .add_pool(4096)
            .unwrap_err()
            .contains("bytes in wl_shm pools"));
        limits.remove_pool(1 << 29);
        limits.add_pool(4096).unwrap();
        assert!(limits.grow_shm(4096, (1 << 29) + 8192).is_err());
        limits.grow_shm(4096, 8192).unwrap();
        assert_eq!(limits.shm_bytes(), (1 << 29) + 8192);
    }

    #[test]
    fn shm_bytes_are_capped_per_sandbox_and_released_with_the_client() {
        let sandbox = Arc::new(AtomicU64::new(0));
        let clients: Vec<_> = (0..3).map(|_| ClientLimits::new(sandbox.clone())).collect();
        clients[0].add_pool(1 << 30).unwrap();
        clients[1].add_pool(1 << 30).unwrap();
        assert_eq!(sandbox.load(Ordering::Relaxed), MAX_SANDBOX_SHM_BYTES);
        let err = clients[2].add_pool(4096).unwrap_err();
        assert!(err.contains("all the sandbox's clients"), "{err}");
        // Refused, so not counted for the client either.
        assert_eq!(clients[2].shm_bytes(), 0);
        // A pool destroyed, or a client gone, gives its bytes back.
        clients[0].remove_pool(1 << 30);
        clients[2].add_pool(1 << 29).unwrap();
        let mut clients = clients;
        clients.remove(1);
        assert_eq!(sandbox.load(Ordering::Relaxed), 1 << 29);
        drop(clients);
        assert_eq!(sandbox.load(Ordering::Relaxed), 0);
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
