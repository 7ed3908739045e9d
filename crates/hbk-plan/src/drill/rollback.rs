//! The rollback drill: a guest's newest plan snapshot is cloned into a
//! scratch VMID through the PVE API, the clone is started and watched
//! until it runs (and, for a VM with the guest agent enabled, until the
//! agent answers), then stopped and destroyed. The original guest is only
//! read: the clone call names it as the source, nothing else is sent to
//! it. Whatever happens after the clone exists, the clone is removed.

use std::time::{Duration, Instant};

use crate::api::pve::{Guest, GuestKind, PveClient};
use crate::config::is_plan_snapshot;
use crate::Error;

/// What the drill of one guest needs.
#[derive(Debug, Clone)]
pub struct RollbackDrill<'a> {
    /// The PVE API.
    pub client: &'a PveClient,
    /// The plan's snapshot prefix.
    pub prefix: &'a str,
    /// The clone's VMID; `None`: the cluster's next free one.
    pub scratch_vmid: Option<u32>,
    /// Storage for the clone's disks.
    pub storage: Option<&'a str>,
    /// How long the clone may take to run and its agent to answer.
    pub start_timeout: Duration,
    /// How often its state is asked for.
    pub poll: Duration,
}

impl RollbackDrill<'_> {
    /// Drills `guest`: `Ok` says what was proven, `Err` what failed (and
    /// whether the clone could be removed).
    pub fn run(&self, guest: &Guest) -> Result<String, String> {
        let snaps = self
            .client
            .snapshots(guest)
            .map_err(|e| format!("listing snapshots: {e}"))?;
        let Some(snap) = snaps
            .iter()
            .rev()
            .find(|s| is_plan_snapshot(self.prefix, &s.name))
        else {
            return Err(format!("{} has no {}-* snapshot", guest.id(), self.prefix));
        };
        let vmid = match self.scratch_vmid {
            Some(v) => v,
            None => self
                .client
                .next_id()
                .map_err(|e| format!("asking for a free VMID: {e}"))?,
        };
        let existing = self
            .client
            .guests()
            .map_err(|e| format!("listing guests: {e}"))?;
        if vmid == guest.vmid || existing.iter().any(|g| g.vmid == vmid) {
            return Err(format!(
                "scratch VMID {vmid} is in use: refusing to clone over it"
            ));
        }
        let clock = Instant::now();
        let (clone, upid) = self
            .client
            .clone_from_snapshot(guest, vmid, &snap.name, self.storage)
            .map_err(|e| format!("cloning {} from {}: {e}", guest.id(), snap.name))?;
        let cloned = self.client.finish(&upid);
        let proven = match cloned {
            Err(e) => Err(format!("cloning {} from {}: {e}", guest.id(), snap.name)),
            Ok(_) => self.boot(&clone).map(|how| {
                format!(
                    "{} cloned from {} as {vmid}, {how} after {:.1} s",
                    guest.id(),
                    snap.name,
                    clock.elapsed().as_secs_f64()
                )
            }),
        };
        let removed = self.remove(&clone);
        match (proven, removed) {
            (Ok(m), Ok(())) => Ok(format!("{m}; clone destroyed")),
            (Ok(m), Err(e)) => Err(format!("{m}, but {e}")),
            (Err(m), Ok(())) => Err(format!("{m}; clone destroyed")),
            (Err(m), Err(e)) => Err(format!("{m}; {e}")),
        }
    }

    /// Starts the clone and waits until it runs and, when it has one, its
    /// guest agent answers.
    fn boot(&self, clone: &Guest) -> Result<&'static str, String> {
        let upid = self
            .client
            .start(clone)
            .map_err(|e| format!("the clone failed to start: {e}"))?;
        self.client
            .finish(&upid)
            .map_err(|e| format!("the clone failed to start: {e}"))?;
        let deadline = Instant::now() + self.start_timeout;
        let status = loop {
            match self.client.status(clone) {
                Ok(s) if s.running => break s,
                _ if Instant::now() < deadline => {}
                Ok(_) => return Err("the clone did not reach running in time".into()),
                Err(e) => return Err(format!("asking the clone's state: {e}")),
            }
            std::thread::sleep(self.poll);
        };
        if clone.kind != GuestKind::Qemu || !status.agent {
            return Ok("running");
        }
        loop {
            match self.client.agent_ping(clone) {
                Ok(()) => return Ok("running, guest agent answering"),
                Err(_) if Instant::now() < deadline => std::thread::sleep(self.poll),
                Err(e) => return Err(format!("the clone's guest agent did not answer: {e}")),
            }
        }
    }

    /// Stops the clone if it runs, then destroys it with its disks.
    fn remove(&self, clone: &Guest) -> Result<(), String> {
        let gone = |e: &Error| e.to_string().contains("does not exist");
        let fail = |what: &str, e: Error| {
            format!(
                "the clone {} could not be {what} ({e}): remove it by hand",
                clone.vmid
            )
        };
        match self.client.status(clone) {
            Err(e) if gone(&e) => return Ok(()),
            Ok(s) if s.running => {
                let stopped = self.client.stop(clone).and_then(|u| self.client.finish(&u));
                stopped.map_err(|e| fail("stopped", e))?;
            }
            _ => {}
        }
        let destroyed = self
            .client
            .destroy(clone)
            .and_then(|u| self.client.finish(&u));
        match destroyed {
            Err(e) if gone(&e) => Ok(()),
            other => other.map(|_| ()).map_err(|e| fail("destroyed", e)),
        }
    }
}
