//! The Proxmox Backup Server endpoints the plan uses: version, datastore
//! config (maintenance mode), active operations and running tasks.

use serde_json::Value;

use super::{seg, ApiClient, ApiKind};
use crate::config::{ApiConfig, Quiesce};
use crate::secret::Secret;
use crate::{Error, Result};

/// In-flight datastore users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActiveOps {
    /// Readers.
    pub read: u64,
    /// Writers.
    pub write: u64,
}

/// A PBS API client.
#[derive(Debug, Clone)]
pub struct PbsClient {
    api: ApiClient,
}

impl PbsClient {
    /// A client for `cfg` with the token secret `secret`.
    pub fn new(cfg: &ApiConfig, secret: &Secret) -> Result<PbsClient> {
        Ok(PbsClient {
            api: ApiClient::new(ApiKind::Pbs, cfg, secret)?,
        })
    }

    /// The shared client.
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// `GET /version`.
    pub fn version(&self) -> Result<String> {
        self.api.version()
    }

    /// The datastore's maintenance mode property, if one is set.
    pub fn maintenance_mode(&self, store: &str) -> Result<Option<String>> {
        let cfg = self
            .api
            .get(&format!("/config/datastore/{}", seg(store)), &[])?;
        Ok(cfg
            .get("maintenance-mode")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(String::from))
    }

    /// Sets maintenance mode (`type=read-only|offline,message=…`).
    pub fn set_maintenance(&self, store: &str, mode: Quiesce, message: &str) -> Result<()> {
        self.api.put(
            &format!("/config/datastore/{}", seg(store)),
            &[(
                "maintenance-mode",
                format!("type={},message={message}", mode.mode()),
            )],
        )?;
        Ok(())
    }

    /// Clears maintenance mode.
    pub fn clear_maintenance(&self, store: &str) -> Result<()> {
        self.api.put(
            &format!("/config/datastore/{}", seg(store)),
            &[("delete", "maintenance-mode".into())],
        )?;
        Ok(())
    }

    /// The datastore's active operations.
    pub fn active_operations(&self, store: &str) -> Result<ActiveOps> {
        let path = format!("/admin/datastore/{}/active-operations", seg(store));
        let v = self.api.get(&path, &[])?;
        let n = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_u64().or_else(|| x.as_str()?.parse().ok()))
                .ok_or_else(|| Error::ApiResponse {
                    api: "PBS",
                    path: path.clone(),
                    message: format!("no {k:?} count"),
                })
        };
        Ok(ActiveOps {
            read: n("read")?,
            write: n("write")?,
        })
    }

    /// Starts a verify job over the whole datastore (every snapshot not
    /// verified yet); returns its task.
    pub fn verify(&self, store: &str) -> Result<super::task::Upid> {
        let path = format!("/admin/datastore/{}/verify", seg(store));
        let data = self.api.post(&path, &[])?;
        self.api.upid(&path, &data)
    }

    /// Waits for a task; errors become [`Error::TaskFailed`].
    pub fn finish(&self, upid: &super::task::Upid) -> Result<super::task::TaskOutcome> {
        self.api.finish_task(upid)
    }

    /// Types of the tasks running on the datastore (GC, verify, sync…).
    pub fn running_tasks(&self, store: &str) -> Result<Vec<String>> {
        let v = self.api.get(
            "/nodes/localhost/tasks",
            &[("running", "1".into()), ("store", store.to_string())],
        )?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.get("worker_type").and_then(Value::as_str))
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default())
    }
}
