//! The Proxmox VE endpoints the plan uses: inventory, guest snapshots,
//! vzdump and tasks.

use serde_json::Value;

use super::task::{TaskOutcome, Upid};
use super::{seg, ApiClient, ApiKind};
use crate::config::ApiConfig;
use crate::secret::Secret;
use crate::{Error, Result};

/// VM or container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestKind {
    /// A QEMU VM.
    Qemu,
    /// An LXC container.
    Lxc,
}

impl GuestKind {
    /// The path word: `qemu` or `lxc`.
    pub fn word(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
        }
    }
}

/// A guest as `/cluster/resources` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Guest {
    /// VMID.
    pub vmid: u32,
    /// VM or container.
    pub kind: GuestKind,
    /// The node hosting it.
    pub node: String,
    /// Its name.
    pub name: String,
    /// A config lock (`backup`, `snapshot`, …), if any.
    pub lock: Option<String>,
    /// Whether it is a template (templates cannot be snapshotted).
    pub template: bool,
}

impl Guest {
    /// `qemu/100`, as PVE writes resource ids.
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind.word(), self.vmid)
    }

    fn path(&self) -> String {
        format!(
            "/nodes/{}/{}/{}",
            seg(&self.node),
            self.kind.word(),
            self.vmid
        )
    }
}

/// What `status/current` says of a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestStatus {
    /// It runs.
    pub running: bool,
    /// Its guest agent is enabled in its config (VMs only).
    pub agent: bool,
}

/// One guest snapshot (the `current` pseudo entry is left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestSnapshot {
    /// Its name.
    pub name: String,
    /// Creation time (epoch seconds), when PVE gives it.
    pub snaptime: Option<i64>,
}

/// A Proxmox VE API client.
#[derive(Debug, Clone)]
pub struct PveClient {
    api: ApiClient,
}

fn num(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn truthy(v: &Value) -> bool {
    num(v).is_some_and(|n| n != 0) || v.as_bool() == Some(true)
}

impl PveClient {
    /// A client for `cfg` with the token secret `secret`.
    pub fn new(cfg: &ApiConfig, secret: &Secret) -> Result<PveClient> {
        Ok(PveClient {
            api: ApiClient::new(ApiKind::Pve, cfg, secret)?,
        })
    }

    /// The shared client (tasks, raw calls).
    pub fn api(&self) -> &ApiClient {
        &self.api
    }

    /// `GET /version`: the release, which also proves the token works.
    pub fn version(&self) -> Result<String> {
        self.api.version()
    }

    /// Every VM and container in the cluster.
    pub fn guests(&self) -> Result<Vec<Guest>> {
        let path = "/cluster/resources";
        let data = self.api.get(path, &[("type", "vm".into())])?;
        let items = data.as_array().ok_or_else(|| Error::ApiResponse {
            api: "PVE",
            path: path.into(),
            message: "expected a list".into(),
        })?;
        let mut out = Vec::new();
        for it in items {
            let kind = match it.get("type").and_then(Value::as_str) {
                Some("qemu") => GuestKind::Qemu,
                Some("lxc") => GuestKind::Lxc,
                _ => continue,
            };
            let (Some(vmid), Some(node)) = (
                it.get("vmid").and_then(num),
                it.get("node").and_then(Value::as_str),
            ) else {
                continue;
            };
            out.push(Guest {
                vmid: u32::try_from(vmid).unwrap_or(0),
                kind,
                node: node.to_string(),
                name: it
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                lock: it
                    .get("lock")
                    .and_then(Value::as_str)
                    .filter(|l| !l.is_empty())
                    .map(String::from),
                template: it.get("template").is_some_and(truthy),
            });
        }
        out.sort_by_key(|g| g.vmid);
        Ok(out)
    }

    /// A guest's snapshots, oldest first.
    pub fn snapshots(&self, g: &Guest) -> Result<Vec<GuestSnapshot>> {
        let path = format!("{}/snapshot", g.path());
        let data = self.api.get(&path, &[])?;
        let items = data.as_array().ok_or_else(|| Error::ApiResponse {
            api: "PVE",
            path: path.clone(),
            message: "expected a list".into(),
        })?;
        let mut out: Vec<GuestSnapshot> = items
            .iter()
            .filter_map(|s| {
                let name = s.get("name")?.as_str()?;
                (name != "current").then(|| GuestSnapshot {
                    name: name.to_string(),
                    snaptime: s.get("snaptime").and_then(num),
                })
            })
            .collect();
        out.sort_by(|a, b| (a.snaptime, &a.name).cmp(&(b.snaptime, &b.name)));
        Ok(out)
    }

    /// Starts a snapshot; returns its task.
    pub fn create_snapshot(
        &self,
        g: &Guest,
        name: &str,
        description: &str,
        vmstate: bool,
    ) -> Result<Upid> {
        let path = format!("{}/snapshot", g.path());
        let mut form = vec![
            ("snapname", name.to_string()),
            ("description", description.to_string()),
        ];
        if g.kind == GuestKind::Qemu {
            form.push(("vmstate", if vmstate { "1" } else { "0" }.into()));
        }
        let data = self.api.post(&path, &form)?;
        self.api.upid(&path, &data)
    }

    /// Starts deleting a snapshot; returns its task.
    pub fn delete_snapshot(&self, g: &Guest, name: &str) -> Result<Upid> {
        let path = format!("{}/snapshot/{}", g.path(), seg(name));
        let data = self.api.delete(&path, &[])?;
        self.api.upid(&path, &data)
    }

    /// Starts rolling a guest back to a snapshot; returns its task.
    pub fn rollback(&self, g: &Guest, name: &str, start: bool) -> Result<Upid> {
        let path = format!("{}/snapshot/{}/rollback", g.path(), seg(name));
        let data = self
            .api
            .post(&path, &[("start", if start { "1" } else { "0" }.into())])?;
        self.api.upid(&path, &data)
    }

    /// Starts vzdump of `vmids` (all on `node`) to `storage`. PVE answers
    /// `OK` instead of a UPID when none of them lives on `node`: that is an
    /// error here.
    pub fn vzdump(&self, node: &str, vmids: &[u32], storage: &str, mode: &str) -> Result<Upid> {
        let path = format!("/nodes/{}/vzdump", seg(node));
        let list = vmids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let data = self.api.post(
            &path,
            &[
                ("vmid", list),
                ("storage", storage.to_string()),
                ("mode", mode.to_string()),
            ],
        )?;
        self.api.upid(&path, &data)
    }

    /// `GET /cluster/nextid`: a VMID no guest uses (for drill clones).
    pub fn next_id(&self) -> Result<u32> {
        let path = "/cluster/nextid";
        let v = self.api.get(path, &[])?;
        num(&v)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| Error::ApiResponse {
                api: "PVE",
                path: path.into(),
                message: format!("expected a VMID, got {v}"),
            })
    }

    /// Starts a clone of `g` as it was in snapshot `snapname`, as VMID
    /// `newid` on the same node: a full clone (PVE links only clones of
    /// templates, which have no snapshots), to `storage` when given;
    /// returns its task. Returns the clone as a [`Guest`] too.
    pub fn clone_from_snapshot(
        &self,
        g: &Guest,
        newid: u32,
        snapname: &str,
        storage: Option<&str>,
    ) -> Result<(Guest, Upid)> {
        let path = format!("{}/clone", g.path());
        let name = format!("hbk-drill-{}", g.vmid);
        let mut form = vec![
            ("newid", newid.to_string()),
            ("snapname", snapname.to_string()),
            ("full", "1".to_string()),
            (
                match g.kind {
                    GuestKind::Qemu => "name",
                    GuestKind::Lxc => "hostname",
                },
                name.clone(),
            ),
            (
                "description",
                format!("hbk rollback drill of {} from {snapname}", g.id()),
            ),
        ];
        if let Some(s) = storage {
            form.push(("storage", s.to_string()));
        }
        let data = self.api.post(&path, &form)?;
        let upid = self.api.upid(&path, &data)?;
        let clone = Guest {
            vmid: newid,
            kind: g.kind,
            node: g.node.clone(),
            name,
            lock: None,
            template: false,
        };
        Ok((clone, upid))
    }

    /// Starts a guest; returns the task.
    pub fn start(&self, g: &Guest) -> Result<Upid> {
        let path = format!("{}/status/start", g.path());
        let data = self.api.post(&path, &[])?;
        self.api.upid(&path, &data)
    }

    /// Stops a guest at once (no shutdown); returns the task.
    pub fn stop(&self, g: &Guest) -> Result<Upid> {
        let path = format!("{}/status/stop", g.path());
        let data = self.api.post(&path, &[])?;
        self.api.upid(&path, &data)
    }

    /// A guest's current state.
    pub fn status(&self, g: &Guest) -> Result<GuestStatus> {
        let path = format!("{}/status/current", g.path());
        let v = self.api.get(&path, &[])?;
        Ok(GuestStatus {
            running: v.get("status").and_then(Value::as_str) == Some("running"),
            agent: v.get("agent").is_some_and(truthy),
        })
    }

    /// Whether the QEMU guest agent of a VM answers a ping.
    pub fn agent_ping(&self, g: &Guest) -> Result<()> {
        let path = format!("{}/agent/ping", g.path());
        self.api.post(&path, &[])?;
        Ok(())
    }

    /// Starts destroying a guest with its disks and every reference to it
    /// (`purge`); returns the task.
    pub fn destroy(&self, g: &Guest) -> Result<Upid> {
        let path = g.path();
        let data = self.api.delete(
            &path,
            &[
                ("purge", "1".into()),
                ("destroy-unreferenced-disks", "1".into()),
            ],
        )?;
        self.api.upid(&path, &data)
    }

    /// Waits for a task; errors become [`Error::TaskFailed`].
    pub fn finish(&self, upid: &Upid) -> Result<TaskOutcome> {
        self.api.finish_task(upid)
    }
}
