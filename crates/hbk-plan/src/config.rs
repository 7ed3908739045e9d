//! The plan file: what a run backs up, where to, and how it proves it.
//!
//! Every field is documented in `docs/plan.md`; `docs/plan.example.toml`
//! is a commented example. This module holds the types only;
//! [`Plan::load`] (in `validate`) parses and validates: unknown fields
//! are errors, and every semantic problem is listed at once.

mod backend_options;
mod validate;

pub use backend_options::BackendOptions;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use hbk_engine::commands::forget::KeepPolicy;
use serde::{Deserialize, Deserializer, Serialize};

use crate::secret::SecretSource;
use crate::units::{Size, Span};

/// A whole plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The plan's name: snapshot tag, lock and unit names.
    pub name: String,
    /// Where the plan keeps its status, drill results and lock.
    pub state_dir: PathBuf,
    /// The lock file (default `STATE_DIR/plan.lock`).
    #[serde(default)]
    pub lock_file: Option<PathBuf>,
    /// Host name recorded in snapshots (default: this machine's).
    #[serde(default)]
    pub host: Option<String>,
    /// The repository every source is backed up into.
    pub primary: String,
    /// Repositories the new snapshots are copied to.
    #[serde(default)]
    pub copy_targets: Vec<String>,
    /// The repositories, by name.
    pub repositories: BTreeMap<String, RepoConfig>,
    /// The Proxmox VE API and its guests (optional).
    #[serde(default)]
    pub proxmox: Option<PveConfig>,
    /// The Proxmox Backup Server and the datastore to capture (optional).
    #[serde(default)]
    pub pbs: Option<PbsConfig>,
    /// File-system sources.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// Restore drills.
    #[serde(default)]
    pub drill: DrillConfig,
    /// Scrub rotation: every pack of every repository read and verified
    /// within a number of days (optional).
    #[serde(default)]
    pub scrub: Option<ScrubConfig>,
    /// Report outputs.
    #[serde(default)]
    pub report: ReportConfig,
    /// Notifications of a run's start, success and failures.
    #[serde(default)]
    pub notify: Vec<NotifyConfig>,
    /// The status page (`hbk plan serve`).
    #[serde(default)]
    pub serve: ServeConfig,
    /// When the systemd timers fire.
    #[serde(default)]
    pub schedule: ScheduleConfig,
}

/// One repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    /// Location as `hbk -r` takes it (`/path`, `local:/path`, …).
    pub url: String,
    /// Where the password comes from.
    pub password: SecretSource,
    /// The repository directory must be on a mounted file system other
    /// than its parent's (a USB disk): nothing is written otherwise.
    #[serde(default)]
    pub require_mount: bool,
    /// Free space the file system must have before a run writes to it.
    #[serde(default)]
    pub min_free: Option<Size>,
    /// Backend options, as `hbk -o key=value` takes them.
    #[serde(default)]
    pub options: BackendOptions,
    /// The repository id (or a prefix of it) the repository must have:
    /// another disk mounted in the same place is refused.
    #[serde(default)]
    pub expect_repository_id: Option<String>,
    /// Where the metadata cache of a remote repository is kept (default
    /// as for `hbk`: `$HBK_CACHE_DIR`, `$XDG_CACHE_HOME/hbk`, `~/.cache/hbk`).
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Use no metadata cache.
    #[serde(default)]
    pub no_cache: bool,
    /// Upper bound of the upload rate to this repository in KiB/s, as
    /// `hbk --limit-upload` (none or 0: unlimited).
    #[serde(default)]
    pub limit_upload: Option<u64>,
    /// Upper bound of the download rate from this repository in KiB/s,
    /// as `hbk --limit-download` (none or 0: unlimited).
    #[serde(default)]
    pub limit_download: Option<u64>,
    /// What `forget` keeps.
    #[serde(default)]
    pub retention: Retention,
    /// Recovery point objective: the newest snapshot of this plan in the
    /// repository may be at most this old; older turns the status red.
    #[serde(default)]
    pub max_rpo: Option<Span>,
    /// Recovery time objective: a full-restore drill from this
    /// repository may take at most this long; longer, or never measured,
    /// turns the status red.
    #[serde(default)]
    pub max_rto: Option<Span>,
}

/// Keep rules of one repository (restic's `forget --keep-*`), applied to
/// this plan's snapshots only. In the file it is one table: every rule of
/// the engine's [`KeepPolicy`] under its own key (`keep_last`,
/// `keep_within_daily`, `keep_tag`, …) and `prune`.
#[derive(Debug, Clone)]
pub struct Retention {
    /// What to keep.
    pub policy: KeepPolicy,
    /// Run `prune` after `forget` (default true).
    pub prune: bool,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            policy: KeepPolicy::default(),
            prune: true,
        }
    }
}

impl<'de> Deserialize<'de> for Retention {
    /// Takes `prune` out of the table and reads the rest as a
    /// [`KeepPolicy`], which refuses unknown keys.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Retention, D::Error> {
        let mut table = toml::Table::deserialize(d)?;
        let prune = match table.remove("prune") {
            None => true,
            Some(toml::Value::Boolean(b)) => b,
            Some(other) => {
                return Err(serde::de::Error::custom(format!(
                    "prune must be true or false, not {other}"
                )))
            }
        };
        let policy =
            KeepPolicy::deserialize(toml::Value::Table(table)).map_err(serde::de::Error::custom)?;
        Ok(Retention { policy, prune })
    }
}

impl Serialize for Retention {
    /// The same one table.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut table = toml::Table::try_from(&self.policy).map_err(serde::ser::Error::custom)?;
        table.insert("prune".into(), toml::Value::Boolean(self.prune));
        table.serialize(s)
    }
}

/// Which guests to snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Guests {
    /// Every VM and container that is not a template.
    All,
    /// These VMIDs.
    Ids(Vec<u32>),
}

impl<'de> Deserialize<'de> for Guests {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Guests, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Ids(Vec<u32>),
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "all" => Ok(Guests::All),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "guests must be \"all\" or a list of VMIDs, not {w:?}"
            ))),
            Raw::Ids(ids) => Ok(Guests::Ids(ids)),
        }
    }
}

/// How a Proxmox API is reached: URL, token and TLS trust.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// `https://HOST:8006` (PVE) or `https://HOST:8007` (PBS).
    pub url: String,
    /// `USER@REALM!TOKENNAME`.
    pub token_id: String,
    /// The token's secret.
    pub token_secret: SecretSource,
    /// SHA-256 fingerprint of the server certificate (`AA:BB:…`).
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// PEM file with the CA that signed the server certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// How often a running task's status is asked for.
    #[serde(default = "default_poll")]
    pub poll_interval: Span,
    /// How long one task may run.
    #[serde(default = "default_task_timeout")]
    pub task_timeout: Span,
    /// How long one HTTP request may take.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Span,
}

fn default_poll() -> Span {
    Span(Duration::from_secs(2))
}
fn default_task_timeout() -> Span {
    Span(Duration::from_secs(3600))
}
fn default_request_timeout() -> Span {
    Span(Duration::from_secs(60))
}

/// The Proxmox VE part of a plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PveConfig {
    /// How the API is reached.
    pub api: ApiConfig,
    /// `"all"` or a list of VMIDs.
    pub guests: Guests,
    /// Snapshot names are `PREFIX-YYYYMMDD-HHMMSS`.
    #[serde(default = "default_prefix")]
    pub snapshot_prefix: String,
    /// How many of this plan's snapshots each guest keeps.
    #[serde(default = "default_keep")]
    pub keep: u32,
    /// Save VM RAM with the snapshot.
    #[serde(default)]
    pub vmstate: bool,
    /// Optional vzdump of the guests to a PBS storage.
    #[serde(default)]
    pub vzdump: Option<VzdumpConfig>,
}

fn default_prefix() -> String {
    "hbk".into()
}
fn default_keep() -> u32 {
    3
}

/// A vzdump run after the snapshots.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VzdumpConfig {
    /// PVE storage id of type `pbs`.
    pub storage: String,
    /// `snapshot`, `suspend` or `stop`.
    #[serde(default = "default_vzdump_mode")]
    pub mode: String,
}

fn default_vzdump_mode() -> String {
    "snapshot".into()
}

/// How the PBS datastore is kept still while it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quiesce {
    /// Writes refused; reads (and verify) allowed.
    ReadOnly,
    /// Reads and writes refused.
    Offline,
}

impl Quiesce {
    /// The value of PBS's `maintenance-mode` property.
    pub fn mode(self) -> &'static str {
        match self {
            Quiesce::ReadOnly => "read-only",
            Quiesce::Offline => "offline",
        }
    }
}

/// The Proxmox Backup Server part of a plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PbsConfig {
    /// How the API is reached.
    pub api: ApiConfig,
    /// The datastore's name.
    pub datastore: String,
    /// The datastore's directory on this machine.
    pub path: PathBuf,
    /// Maintenance mode while the datastore is read.
    #[serde(default = "default_quiesce")]
    pub quiesce: Quiesce,
    /// How long to wait for active operations to drain.
    #[serde(default = "default_drain")]
    pub drain_timeout: Span,
}

fn default_quiesce() -> Quiesce {
    Quiesce::ReadOnly
}
fn default_drain() -> Span {
    Span(Duration::from_secs(600))
}

/// Shell commands around a source's backup.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// Run before; a failure skips the backup.
    #[serde(default)]
    pub before: Vec<String>,
    /// Run after the backup when `before` succeeded, whatever the outcome.
    #[serde(default)]
    pub after: Vec<String>,
    /// Run when a `before` hook or the backup failed.
    #[serde(default)]
    pub on_failure: Vec<String>,
}

/// A set of paths backed up as one snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The source's name (a snapshot tag).
    pub name: String,
    /// Absolute paths.
    pub paths: Vec<PathBuf>,
    /// Exclude patterns (restic's `--exclude`).
    #[serde(default)]
    pub excludes: Vec<String>,
    /// Extra tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Stay on the file system of each path.
    #[serde(default)]
    pub one_file_system: bool,
    /// Commands around the backup.
    #[serde(default)]
    pub hooks: Hooks,
}

/// Restore drills.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillConfig {
    /// A run drills when the last drill is at least this many days old
    /// (0: every run).
    #[serde(default = "default_every")]
    pub every_days: u32,
    /// Files restored and compared per snapshot.
    #[serde(default = "default_files")]
    pub files: usize,
    /// `check --read-data-subset` argument (`5%`, `1/10`, `100M`).
    #[serde(default = "default_subset")]
    pub read_data_subset: String,
    /// Repositories drilled (default: all).
    #[serde(default)]
    pub repositories: Option<Vec<String>>,
    /// Where drills restore to (default `STATE_DIR/drill`); a full-restore
    /// drill needs room for a whole snapshot there.
    #[serde(default)]
    pub scratch_dir: Option<PathBuf>,
    /// Snapshot rollback drill (needs `[proxmox]`).
    #[serde(default)]
    pub rollback: Option<RollbackDrill>,
    /// PBS datastore drill (needs `[pbs]`).
    #[serde(default)]
    pub pbs: Option<PbsDrill>,
    /// Full-restore drill: the measured RTO.
    #[serde(default)]
    pub full: Option<FullDrill>,
}

/// Clone a guest from its newest plan snapshot into a scratch VMID,
/// start it, wait until it runs (and its guest agent answers), destroy it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackDrill {
    /// Runs when the last rollback drill is at least this many days old.
    #[serde(default = "default_every")]
    pub every_days: u32,
    /// The guests drilled (default: the plan's guests).
    #[serde(default)]
    pub guests: Option<Vec<u32>>,
    /// The VMID of the clone (default: the cluster's next free one).
    #[serde(default)]
    pub scratch_vmid: Option<u32>,
    /// Storage the clone's disks go to (default: the guest's own).
    #[serde(default)]
    pub storage: Option<String>,
    /// How long the clone may take to run (and its agent to answer).
    #[serde(default = "default_start_timeout")]
    pub start_timeout: Span,
}

fn default_start_timeout() -> Span {
    Span(Duration::from_secs(300))
}

/// Restore the PBS datastore from a copy into the scratch directory and
/// verify every chunk file against its name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PbsDrill {
    /// Runs when the last PBS drill is at least this many days old.
    #[serde(default = "default_every")]
    pub every_days: u32,
    /// The repository restored from (default: the off-site copy, the
    /// last copy target).
    #[serde(default)]
    pub repository: Option<String>,
    /// Also run a PBS verify job on the live datastore through its API.
    #[serde(default)]
    pub verify_job: bool,
}

/// Restore the newest snapshot of every source from a copy, compare
/// every file with the repository's content hashes, and time it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FullDrill {
    /// Runs when the last full-restore drill is at least this many days
    /// old.
    #[serde(default = "default_full_every")]
    pub every_days: u32,
    /// The repositories restored from (default: the off-site copy, the
    /// last copy target).
    #[serde(default)]
    pub repositories: Option<Vec<String>>,
}

fn default_full_every() -> u32 {
    30
}

/// Scrub rotation, like PBS verify jobs: each run reads and verifies the
/// packs verified longest ago, so that every pack of every repository is
/// verified within `within_days`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrubConfig {
    /// Every pack is read within this many days.
    #[serde(default = "default_scrub_days")]
    pub within_days: u32,
    /// Repositories scrubbed (default: all).
    #[serde(default)]
    pub repositories: Option<Vec<String>>,
}

fn default_scrub_days() -> u32 {
    30
}

fn default_every() -> u32 {
    7
}
fn default_files() -> usize {
    20
}
fn default_subset() -> String {
    "5%".into()
}

impl Default for DrillConfig {
    fn default() -> Self {
        DrillConfig {
            every_days: default_every(),
            files: default_files(),
            read_data_subset: default_subset(),
            repositories: None,
            scratch_dir: None,
            rollback: None,
            pbs: None,
            full: None,
        }
    }
}

/// When a notification is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// A run (or drill run) starts.
    Start,
    /// It ended with every step held.
    Success,
    /// A step failed.
    Failure,
    /// A drill of the run failed.
    DrillFailure,
}

impl NotifyEvent {
    /// The event's name, as the plan file and payloads write it.
    pub fn name(self) -> &'static str {
        match self {
            NotifyEvent::Start => "start",
            NotifyEvent::Success => "success",
            NotifyEvent::Failure => "failure",
            NotifyEvent::DrillFailure => "drill_failure",
        }
    }
}

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyKind {
    /// POST of a JSON body (`plan`, `event`, `ok`, `message`, …) to `url`.
    Webhook,
    /// ntfy: POST of the text to the topic `url`.
    Ntfy,
    /// Gotify: POST to `url/message` with the application `token`.
    Gotify,
    /// healthchecks.io-style pings: `url/start`, `url`, `url/fail`.
    Healthchecks,
    /// Email through `sendmail` or SMTP.
    Email,
}

impl NotifyKind {
    /// The kind's name, as the plan file writes it.
    pub fn name(self) -> &'static str {
        match self {
            NotifyKind::Webhook => "webhook",
            NotifyKind::Ntfy => "ntfy",
            NotifyKind::Gotify => "gotify",
            NotifyKind::Healthchecks => "healthchecks",
            NotifyKind::Email => "email",
        }
    }
}

/// SMTP delivery of email notifications.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host name.
    pub host: String,
    /// Port (587: submission with STARTTLS).
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// Upgrade the connection with STARTTLS before anything is sent
    /// (default true; false only for a relay on this machine).
    #[serde(default = "default_true")]
    pub starttls: bool,
    /// PEM CA file trusted for the server (default: the system's roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// User for AUTH PLAIN (only over TLS).
    #[serde(default)]
    pub user: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<SecretSource>,
}

fn default_smtp_port() -> u16 {
    587
}
fn default_true() -> bool {
    true
}

/// One notification target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// The kind of receiver.
    pub kind: NotifyKind,
    /// Its URL (all kinds but email).
    #[serde(default)]
    pub url: Option<String>,
    /// An access token (Gotify's application token; ntfy's bearer token).
    #[serde(default)]
    pub token: Option<SecretSource>,
    /// The events sent (default: failure and drill_failure).
    #[serde(default = "default_on")]
    pub on: Vec<NotifyEvent>,
    /// How long one notification may take, retry included: a dead
    /// receiver delays a run by at most this.
    #[serde(default = "default_notify_timeout")]
    pub timeout: Span,
    /// Email: recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// Email: sender.
    #[serde(default)]
    pub from: Option<String>,
    /// Email: a sendmail-compatible program (`/usr/sbin/sendmail`).
    #[serde(default)]
    pub sendmail: Option<PathBuf>,
    /// Email: an SMTP server.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
}

fn default_on() -> Vec<NotifyEvent> {
    vec![NotifyEvent::Failure, NotifyEvent::DrillFailure]
}
fn default_notify_timeout() -> Span {
    Span(Duration::from_secs(10))
}

/// The status page: where it listens and who may read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address and port (`127.0.0.1:9898`); beyond the loopback
    /// interface a password or token is required.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// User name for basic authentication (default `hbk`).
    #[serde(default)]
    pub user: Option<String>,
    /// Password for basic authentication.
    #[serde(default)]
    pub password: Option<SecretSource>,
    /// A bearer token (`Authorization: Bearer …`), for scripts.
    #[serde(default)]
    pub token: Option<SecretSource>,
}

fn default_listen() -> String {
    "127.0.0.1:9898".into()
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: default_listen(),
            user: None,
            password: None,
            token: None,
        }
    }
}

/// Report outputs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// JSON status file (default `STATE_DIR/status.json`).
    #[serde(default)]
    pub json: Option<PathBuf>,
    /// Prometheus textfile (node_exporter textfile collector).
    #[serde(default)]
    pub prometheus: Option<PathBuf>,
}

/// systemd calendar expressions for `install-timer`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// When the plan runs.
    #[serde(default = "default_run_calendar")]
    pub run: String,
    /// When drills run.
    #[serde(default = "default_drill_calendar")]
    pub drill: String,
    /// `RandomizedDelaySec=` of both timers.
    #[serde(default)]
    pub randomized_delay: Option<Span>,
}

fn default_run_calendar() -> String {
    "*-*-* 03:00:00".into()
}
fn default_drill_calendar() -> String {
    "Sun *-*-* 05:00:00".into()
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            run: default_run_calendar(),
            drill: default_drill_calendar(),
            randomized_delay: None,
        }
    }
}

impl Plan {
    /// The lock file.
    pub fn lock_path(&self) -> PathBuf {
        self.lock_file
            .clone()
            .unwrap_or_else(|| self.state_dir.join("plan.lock"))
    }

    /// The JSON status file.
    pub fn json_path(&self) -> PathBuf {
        self.report
            .json
            .clone()
            .unwrap_or_else(|| self.state_dir.join("status.json"))
    }

    /// The tag every snapshot of this plan carries.
    pub fn tag(&self) -> String {
        format!("plan-{}", self.name)
    }

    /// The primary repository followed by the copy targets.
    pub fn repo_order(&self) -> Vec<&str> {
        std::iter::once(self.primary.as_str())
            .chain(self.copy_targets.iter().map(String::as_str))
            .collect()
    }

    /// The off-site copy: the last copy target (the primary when there
    /// is none). Drills that prove a disaster restore read from it.
    pub fn offsite(&self) -> &str {
        self.copy_targets.last().unwrap_or(&self.primary)
    }

    /// Where drills restore to.
    pub fn scratch_dir(&self) -> PathBuf {
        self.drill
            .scratch_dir
            .clone()
            .unwrap_or_else(|| self.state_dir.join("drill"))
    }

    /// The repositories the full-restore drill restores from.
    pub fn full_drill_repos(&self) -> Vec<String> {
        match self
            .drill
            .full
            .as_ref()
            .and_then(|f| f.repositories.clone())
        {
            Some(r) => r,
            None => vec![self.offsite().to_string()],
        }
    }

    /// The repositories scrubbed.
    pub fn scrub_repos(&self) -> Vec<String> {
        match self.scrub.as_ref().and_then(|s| s.repositories.clone()) {
            Some(r) => r,
            None => self.repo_order().into_iter().map(String::from).collect(),
        }
    }

    /// The repositories drilled.
    pub fn drill_repos(&self) -> Vec<String> {
        match &self.drill.repositories {
            Some(r) => r.clone(),
            None => self.repo_order().into_iter().map(String::from).collect(),
        }
    }
}

/// Whether `name` is one of this plan's snapshots: `PREFIX-YYYYMMDD-HHMMSS`.
pub fn is_plan_snapshot(prefix: &str, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() == 15
        && b[8] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || c.is_ascii_digit())
}

/// Name of the snapshot source that captures the PBS datastore.
pub const PBS_SOURCE: &str = "pbs-datastore";

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::Error;

    #[test]
    fn retention_accepts_every_keep_rule() {
        let text = r#"
            keep_last = 3
            keep_hourly = 1
            keep_daily = 7
            keep_weekly = 4
            keep_monthly = 12
            keep_yearly = 2
            keep_within = "2d"
            keep_within_hourly = "1d"
            keep_within_daily = "7d"
            keep_within_weekly = "1m"
            keep_within_monthly = "1y"
            keep_within_yearly = "5y"
            keep_tag = ["keep,important", "forever"]
            prune = false
        "#;
        let r: Retention = toml::from_str(text).unwrap();
        assert!(!r.prune);
        let p = &r.policy;
        assert_eq!((p.last, p.daily, p.yearly), (Some(3), Some(7), Some(2)));
        assert_eq!(p.within.unwrap().to_string(), "2d");
        assert_eq!(p.within_monthly.unwrap().to_string(), "1y");
        assert_eq!(
            p.keep_tags,
            vec![
                vec!["keep".to_string(), "important".into()],
                vec!["forever".into()]
            ]
        );
        let again: Retention = toml::from_str(&toml::to_string(&r).unwrap()).unwrap();
        assert_eq!(again.policy, r.policy);
        assert!(!again.prune);

        let empty: Retention = toml::from_str("").unwrap();
        assert!(empty.prune && empty.policy.is_empty());
        assert!(toml::from_str::<Retention>("keep_within = \"7x\"").is_err());
        assert!(toml::from_str::<Retention>("keep_everything = 1").is_err());
        assert!(toml::from_str::<Retention>("prune = 1").is_err());
    }

    fn example() -> String {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/plan.example.toml");
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn the_documented_example_is_valid() {
        let plan = Plan::parse(&example(), Path::new("plan.example.toml")).unwrap();
        assert_eq!(plan.repo_order(), ["local", "usb", "cloud"]);
        assert!(plan.repositories["usb"].require_mount);
        let pve = plan.proxmox.as_ref().unwrap();
        assert_eq!(pve.guests, Guests::Ids(vec![100, 101, 200]));
        assert_eq!(plan.pbs.as_ref().unwrap().quiesce, Quiesce::ReadOnly);
        assert_eq!(plan.sources[0].hooks.before.len(), 1);
        assert_eq!(plan.tag(), "plan-homelab");
    }

    #[test]
    fn every_problem_is_listed_with_its_field() {
        let text = example()
            .replace("primary = \"local\"", "primary = \"nope\"")
            .replace("snapshot_prefix = \"hbk\"", "snapshot_prefix = \"1hbk\"")
            .replace("token_id = \"backup@pbs!hbk\"", "token_id = \"backup\"")
            .replace("read_data_subset = \"5%\"", "read_data_subset = \"lots\"");
        let Err(Error::InvalidPlan(p)) = Plan::parse(&text, Path::new("p.toml")) else {
            panic!("accepted");
        };
        let all = p.join("\n");
        for field in [
            "primary",
            "proxmox.snapshot_prefix",
            "pbs.api.token_id",
            "drill.read_data_subset",
            "repositories.local: neither the primary nor a copy target",
        ] {
            assert!(all.contains(field), "{field} missing in:\n{all}");
        }
    }

    #[test]
    fn unknown_fields_and_bad_types_are_parse_errors() {
        let text = example().replace("keep = 3", "keep = 3\nkeeep = 4");
        let e = Plan::parse(&text, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("keeep"), "{e}");
        let text = example().replace("guests = [100, 101, 200]", "guests = \"some\"");
        let e = Plan::parse(&text, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("guests must be \"all\""), "{e}");
        let text = example().replace("guests = [100, 101, 200]", "guests = \"all\"");
        let plan = Plan::parse(&text, Path::new("p.toml")).unwrap();
        assert_eq!(plan.proxmox.unwrap().guests, Guests::All);
    }

    /// Values that tend to upset a TOML field's parser or validator.
    const VALUES: &[&str] = &[
        "-1",
        "0",
        "18446744073709551616",
        "1e400",
        "nan",
        "\"\"",
        "\"0%\"",
        "\"101%\"",
        "\"-5%\"",
        "\"99999999999999999999T\"",
        "\"16m\"",
        "\"1/0\"",
        "\"*-*-* 99:99\"",
        "\"all\"",
        "[]",
        "[1, \"a\"]",
        "{}",
        "\"\\u0000\"",
        "\"\u{feff}\"",
        "\"rest:\"",
        "\"s3:\"",
        "\"/\"",
        "true",
        "[",
        "\"",
    ];

    proptest::proptest! {
        /// The documented example with some values replaced by hostile
        /// ones and some bytes changed: an error or a plan, never a panic.
        #[test]
        fn mutated_plans_never_panic(
            values in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::usize::ANY, ".{0,12}", proptest::bool::ANY), 1..6),
            bytes in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 0..3),
        ) {
            let text = example();
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let fields: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(" = ")).collect();
            for (line, value, free, pick) in values {
                let i = fields[line % fields.len()];
                let key = lines[i].split(" = ").next().unwrap_or_default().to_owned();
                let v = if pick { VALUES[value % VALUES.len()].to_owned() } else { free };
                lines[i] = format!("{key} = {v}");
            }
            let mut raw = lines.join("\n").into_bytes();
            for (at, b) in bytes {
                let i = at % raw.len();
                raw[i] = b;
            }
            let text = String::from_utf8_lossy(&raw);
            if let Ok(plan) = Plan::parse(&text, Path::new("p.toml")) {
                let _ = (plan.repo_order(), plan.tag(), plan.lock_path());
            }
        }

        /// Arbitrary text: never a panic.
        #[test]
        fn random_plans_never_panic(text in ".{0,200}") {
            let _ = Plan::parse(&text, Path::new("p.toml"));
        }
    }
}
