//! hbk's orchestrator: a homelab's 3-2-1 backup plan as one command.
//!
//! A [`Plan`] (a TOML file, see `docs/plan.md`) names repositories and
//! their passwords' [`secret::SecretSource`]s, a Proxmox VE cluster and its
//! guests, a Proxmox Backup Server datastore, file-system sources with
//! hooks, copy targets, retention, drills and report outputs.
//! [`run::run`] carries it out in order and returns a
//! [`report::RunReport`]; [`show::steps`] lists the steps without doing
//! them; [`timer::units`] writes the systemd units.
//!
//! * [`api`]: blocking clients of the PVE and PBS REST APIs (token auth,
//!   pinned TLS, `{"data": …}` envelopes, UPID tasks);
//! * [`engine`]: the repository steps over hbk-engine (backup, forget,
//!   check; copy and prune are wiring points);
//! * [`guard::MaintenanceGuard`]: PBS maintenance mode that is always
//!   cleared;
//! * [`drill`]: restore drills: a random sample, a whole snapshot (the
//!   measured RTO), the PBS datastore's chunks, a guest rollback;
//! * [`scrub`]: every pack verified within a window, a slice per run;
//! * [`pbs_chunk`]: PBS chunk files checked against their names.
//!
//! ```
//! use std::path::Path;
//! let text = r#"
//! name = "homelab"
//! state_dir = "/var/lib/hbk/homelab"
//! primary = "local"
//! [repositories.local]
//! url = "/srv/hbk"
//! password = { file = "/etc/hbk/local.pw" }
//! [[sources]]
//! name = "etc"
//! paths = ["/etc"]
//! "#;
//! let plan = hbk_plan::Plan::parse(text, Path::new("plan.toml"))?;
//! assert_eq!(plan.repo_order(), ["local"]);
//! # Ok::<(), hbk_plan::Error>(())
//! ```

pub mod api;
pub mod config;
pub mod drill;
pub mod engine;
mod error;
pub mod guard;
pub mod interrupt;
pub mod lock;
pub mod notify;
pub mod pbs_chunk;
pub mod preflight;
pub mod report;
pub mod run;
pub mod scrub;
pub mod secret;
pub mod show;
pub mod timer;
pub mod units;

pub use config::Plan;
pub use error::{Error, Result};
