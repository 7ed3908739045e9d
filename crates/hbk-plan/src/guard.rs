//! The PBS maintenance guard: while it lives the datastore is in
//! maintenance mode; however it ends (returned, dropped on an error or a
//! panic, or the process told to stop by Ctrl-C / SIGTERM through
//! [`crate::interrupt`]) the mode is cleared.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::pbs::{ActiveOps, PbsClient};
use crate::config::Quiesce;
use crate::{interrupt, Error, Result};

/// Holds a datastore in maintenance mode.
#[derive(Debug)]
pub struct MaintenanceGuard {
    client: PbsClient,
    store: String,
    cleared: Arc<AtomicBool>,
    cleanup_id: u64,
}

fn clear_once(client: &PbsClient, store: &str, cleared: &AtomicBool) -> Result<()> {
    if cleared.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    client.clear_maintenance(store)
}

impl MaintenanceGuard {
    /// Sets maintenance mode. The guard is armed before the request, so a
    /// request that reached the server but failed on the way back is
    /// still undone.
    pub fn engage(
        client: &PbsClient,
        store: &str,
        mode: Quiesce,
        message: &str,
    ) -> Result<MaintenanceGuard> {
        let cleared = Arc::new(AtomicBool::new(false));
        let (c, s, flag) = (client.clone(), store.to_string(), cleared.clone());
        let cleanup_id = interrupt::register(move || {
            let _ = clear_once(&c, &s, &flag);
        });
        let guard = MaintenanceGuard {
            client: client.clone(),
            store: store.to_string(),
            cleared,
            cleanup_id,
        };
        client.set_maintenance(store, mode, message)?;
        Ok(guard)
    }

    /// Waits until no operation that must be finished is active: writers
    /// always, readers too in `offline` mode.
    pub fn drain(&self, mode: Quiesce, timeout: Duration, poll: Duration) -> Result<ActiveOps> {
        let start = Instant::now();
        loop {
            let ops = self.client.active_operations(&self.store)?;
            let busy = ops.write > 0 || (mode == Quiesce::Offline && ops.read > 0);
            if !busy {
                return Ok(ops);
            }
            if start.elapsed() >= timeout {
                return Err(Error::Other(format!(
                    "datastore {} still has {} writer(s) and {} reader(s) after {} s",
                    self.store,
                    ops.write,
                    ops.read,
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(poll);
        }
    }

    /// Clears maintenance mode and reads the config back to confirm.
    pub fn release(self) -> Result<()> {
        interrupt::unregister(self.cleanup_id);
        clear_once(&self.client, &self.store, &self.cleared)?;
        match self.client.maintenance_mode(&self.store)? {
            None => Ok(()),
            Some(m) => Err(Error::Other(format!(
                "maintenance mode still set after clearing: {m}"
            ))),
        }
    }
}

impl Drop for MaintenanceGuard {
    fn drop(&mut self) {
        interrupt::unregister(self.cleanup_id);
        let _ = clear_once(&self.client, &self.store, &self.cleared);
    }
}
