//! A Proxmox VE + Proxmox Backup Server API emulator for tests.
//!
//! Real Proxmox is not reachable from CI; this HTTPS server on 127.0.0.1
//! (self-signed certificate, fingerprint in [`Emulator::fingerprint`])
//! stands in for both, following `shared/docs/proxmox-api.md`:
//!
//! * token headers checked exactly (PVE `PVEAPIToken=USER@REALM!TOKEN=SECRET`,
//!   PBS `PBSAPIToken=USER@REALM!TOKEN:SECRET`), 401 otherwise;
//! * every answer in a `{"data": …}` envelope, errors as HTTP 500 with
//!   `data: null` and a `message`;
//! * guests (VMs, containers) with snapshots, PVE's snapshot name rules,
//!   duplicate names, guest locks (`VM is locked (backup)`), templates;
//! * UPID tasks that run for a while and then stop with `OK`,
//!   `WARNINGS: n` or an error, and whose effects (a snapshot appears or
//!   goes) happen when they stop; vzdump answering `OK` when no guest is
//!   on the node;
//! * guest clones from a snapshot (full clones only, as PVE for guests
//!   that are not templates), start, stop, `status/current`, guest-agent
//!   ping and destroy (refused while running) — what a rollback drill
//!   does — with clones that fail to start on request;
//! * PBS datastores with maintenance mode and active operations that
//!   drain after a number of polls (or never), and verify jobs;
//! * injectable faults: API down (connections dropped), task errors,
//!   warnings, tasks that never end;
//! * a call log ([`Emulator::calls`]) so tests can assert order and that a
//!   dry run makes no write call.
//!
//! [`state`] holds the model and the request handler (pure, no I/O);
//! [`server`] is the HTTPS transport.

pub mod server;
pub mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use state::{Api, Call, State};

/// PVE token id the emulator accepts.
pub const PVE_TOKEN_ID: &str = "backup@pve!hbk";
/// PVE token secret the emulator accepts.
pub const PVE_SECRET: &str = "4c9a1f7e-2b3d-4e5f-8a6b-7c8d9e0f1a2b";
/// PBS token id the emulator accepts.
pub const PBS_TOKEN_ID: &str = "backup@pbs!hbk";
/// PBS token secret the emulator accepts.
pub const PBS_SECRET: &str = "9e8d7c6b-5a4f-4e3d-2c1b-0a9f8e7d6c5b";

/// A running emulator; both APIs share one state.
pub struct Emulator {
    /// `https://127.0.0.1:PORT` of the PVE API.
    pub pve_url: String,
    /// `https://127.0.0.1:PORT` of the PBS API.
    pub pbs_url: String,
    /// SHA-256 fingerprint of the certificate, `aa:bb:…`.
    pub fingerprint: String,
    /// The self-signed certificate as PEM (a CA file for clients).
    pub cert_pem: String,
    state: Arc<Mutex<State>>,
}

impl Emulator {
    /// Starts both APIs on ephemeral ports.
    pub fn start() -> Emulator {
        let state = Arc::new(Mutex::new(State::new(
            format!("PVEAPIToken={PVE_TOKEN_ID}={PVE_SECRET}"),
            format!("PBSAPIToken={PBS_TOKEN_ID}:{PBS_SECRET}"),
        )));
        let (pve, pbs, fingerprint, cert_pem) = server::spawn(state.clone());
        Emulator {
            pve_url: format!("https://127.0.0.1:{pve}"),
            pbs_url: format!("https://127.0.0.1:{pbs}"),
            fingerprint,
            cert_pem,
            state,
        }
    }

    /// The shared state, for setup and assertions.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a guest (`qemu` or `lxc`) on `node`.
    pub fn add_guest(&self, vmid: u32, kind: &str, node: &str, name: &str) {
        self.state().add_guest(vmid, kind, node, name);
    }

    /// Adds a snapshot made by someone else.
    pub fn add_snapshot(&self, vmid: u32, name: &str) {
        self.state().add_snapshot(vmid, name);
    }

    /// The names of a guest's snapshots, sorted.
    pub fn snapshots(&self, vmid: u32) -> Vec<String> {
        self.state().snapshot_names(vmid)
    }

    /// Enables (or not) the QEMU guest agent in a guest's config; its
    /// clones inherit it, and answer pings while they run.
    pub fn set_agent(&self, vmid: u32, agent: bool) {
        if let Some(g) = self.state().guests.get_mut(&vmid) {
            g.agent = agent;
        }
    }

    /// Makes every clone of `vmid` fail to start with `error`.
    pub fn fail_clone_start(&self, vmid: u32, error: &str) {
        self.state().clone_start_errors.insert(vmid, error.into());
    }

    /// The VMIDs of every guest, clones included.
    pub fn guest_ids(&self) -> Vec<u32> {
        self.state().guests.keys().copied().collect()
    }

    /// Sets how long each task runs.
    pub fn set_task_duration(&self, d: Duration) {
        self.state().task_duration = d;
    }

    /// The call log.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }
}
