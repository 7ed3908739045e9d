//! The emulated clusters and the request handler (no I/O here).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

/// Which API a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Proxmox VE.
    Pve,
    /// Proxmox Backup Server.
    Pbs,
}

/// One request, as logged.
#[derive(Debug, Clone)]
pub struct Call {
    /// Which API.
    pub api: Api,
    /// HTTP method.
    pub method: String,
    /// Path below `/api2/json`, percent-decoded.
    pub path: String,
    /// Query and form parameters.
    pub params: BTreeMap<String, String>,
    /// HTTP status answered.
    pub status: u16,
    /// When it arrived.
    pub at: SystemTime,
}

impl Call {
    /// Whether the call asks for a change (anything but GET).
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }

    /// `METHOD path` for order assertions.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A guest snapshot.
#[derive(Debug, Clone)]
pub struct Snap {
    /// Name.
    pub name: String,
    /// Epoch seconds.
    pub snaptime: i64,
    /// Description.
    pub description: String,
}

/// A VM or container.
#[derive(Debug, Clone)]
pub struct Guest {
    /// `qemu` or `lxc`.
    pub kind: String,
    /// Hosting node.
    pub node: String,
    /// Name.
    pub name: String,
    /// Config lock.
    pub lock: Option<String>,
    /// Template flag.
    pub template: bool,
    /// Snapshots.
    pub snapshots: Vec<Snap>,
    /// Whether it runs.
    pub running: bool,
    /// Whether its config enables the QEMU guest agent (`agent: 1`).
    pub agent: bool,
    /// The guest it was cloned from, if it is a clone.
    pub cloned_from: Option<u32>,
}

/// How a task ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEnd {
    /// `OK`.
    Ok,
    /// `WARNINGS: n`.
    Warnings(u32),
    /// An error text.
    Error(String),
    /// Never stops.
    Hang,
}

#[derive(Debug, Clone)]
enum Effect {
    Nothing,
    Clone { vmid: u32, guest: Box<Guest> },
    Start { vmid: u32 },
    Stop { vmid: u32 },
    Destroy { vmid: u32 },
    CreateSnap { vmid: u32, snap: Snap },
    DeleteSnap { vmid: u32, name: String },
    Unlock { vmids: Vec<u32> },
}

#[derive(Debug, Clone)]
struct Task {
    api: Api,
    started: Instant,
    end: TaskEnd,
    effect: Effect,
    stopped: Option<String>,
}

/// A PBS datastore.
#[derive(Debug, Clone, Default)]
pub struct Datastore {
    /// Directory.
    pub path: String,
    /// The `maintenance-mode` property, if set.
    pub maintenance: Option<String>,
    /// Active readers.
    pub read: u64,
    /// Active writers.
    pub write: u64,
    /// Polls of active-operations in maintenance mode before they drain;
    /// `None`: never.
    pub drain_after: Option<u32>,
    /// Every change of the maintenance mode: (time, new value).
    pub history: Vec<(SystemTime, Option<String>)>,
}

/// An HTTP answer.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// JSON body.
    pub body: Vec<u8>,
}

fn ok(data: Value) -> Reply {
    Reply {
        status: 200,
        body: json!({ "data": data }).to_string().into_bytes(),
    }
}

fn err(status: u16, message: &str) -> Reply {
    Reply {
        status,
        body: json!({ "data": null, "message": format!("{message}\n") })
            .to_string()
            .into_bytes(),
    }
}

/// Everything the emulator knows.
pub struct State {
    pve_auth: String,
    pbs_auth: String,
    /// Guests by VMID.
    pub guests: BTreeMap<u32, Guest>,
    /// Datastores by name.
    pub datastores: BTreeMap<String, Datastore>,
    tasks: BTreeMap<String, Task>,
    /// How long tasks run.
    pub task_duration: Duration,
    /// Task endings by VMID (default `OK`).
    pub task_ends: BTreeMap<u32, TaskEnd>,
    /// Clones of these guests fail to start, with this error.
    pub clone_start_errors: BTreeMap<u32, String>,
    /// How the PBS verify job ends (default `OK`).
    pub verify_end: TaskEnd,
    /// Drop every connection to the PVE API ("API down").
    pub pve_down: bool,
    /// Drop every connection to the PBS API.
    pub pbs_down: bool,
    /// The call log.
    pub calls: Vec<Call>,
    next_pid: u32,
}

fn parse_params(s: &str) -> BTreeMap<String, String> {
    s.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |x: &str| {
                percent_decode_str(&x.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// PVE's `pve-configid` rule for snapshot names plus reserved words.
pub fn snapshot_name_error(kind: &str, name: &str) -> Option<String> {
    let mut chars = name.chars();
    let first = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !first || !rest || name.len() < 2 || name.len() > 40 {
        return Some(format!("snapname: invalid configuration ID '{name}'"));
    }
    let l = name.to_ascii_lowercase();
    if l == "current" || (kind == "qemu" && l == "pending") || (kind == "lxc" && l == "vzdump") {
        return Some(format!("snapshot name '{name}' is reserved"));
    }
    None
}

impl State {
    /// A state accepting these two exact `Authorization` values.
    pub fn new(pve_auth: String, pbs_auth: String) -> State {
        State {
            pve_auth,
            pbs_auth,
            guests: BTreeMap::new(),
            datastores: BTreeMap::new(),
            tasks: BTreeMap::new(),
            task_duration: Duration::from_millis(300),
            task_ends: BTreeMap::new(),
            clone_start_errors: BTreeMap::new(),
            verify_end: TaskEnd::Ok,
            pve_down: false,
            pbs_down: false,
            calls: Vec::new(),
            next_pid: 0x1000,
        }
    }

    /// Adds a guest.
    pub fn add_guest(&mut self, vmid: u32, kind: &str, node: &str, name: &str) {
        self.guests.insert(
            vmid,
            Guest {
                kind: kind.into(),
                node: node.into(),
                name: name.into(),
                lock: None,
                template: false,
                snapshots: Vec::new(),
                running: true,
                agent: false,
                cloned_from: None,
            },
        );
    }

    /// Adds a snapshot made by someone else.
    pub fn add_snapshot(&mut self, vmid: u32, name: &str) {
        if let Some(g) = self.guests.get_mut(&vmid) {
            g.snapshots.push(Snap {
                name: name.into(),
                snaptime: now_secs() - 86_400,
                description: "manual".into(),
            });
        }
    }

    /// A guest's snapshot names, sorted.
    pub fn snapshot_names(&self, vmid: u32) -> Vec<String> {
        let mut v: Vec<String> = self
            .guests
            .get(&vmid)
            .map(|g| g.snapshots.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Adds a datastore at `path`.
    pub fn add_datastore(&mut self, name: &str, path: &str) {
        self.datastores.insert(
            name.into(),
            Datastore {
                path: path.into(),
                drain_after: Some(0),
                ..Datastore::default()
            },
        );
    }

    /// Whether connections to `api` are dropped.
    pub fn is_down(&self, api: Api) -> bool {
        match api {
            Api::Pve => self.pve_down,
            Api::Pbs => self.pbs_down,
        }
    }

    /// Handles one request and logs it.
    pub fn handle(
        &mut self,
        api: Api,
        method: &str,
        raw_path: &str,
        query: &str,
        body: &[u8],
        auth: Option<&str>,
    ) -> Reply {
        let path = percent_decode_str(raw_path.strip_prefix("/api2/json").unwrap_or(raw_path))
            .decode_utf8_lossy()
            .into_owned();
        let mut params = parse_params(query);
        params.extend(parse_params(&String::from_utf8_lossy(body)));
        self.tick();
        let authorized = match api {
            Api::Pve => auth == Some(self.pve_auth.as_str()),
            // PBS also accepts a space instead of '=' after the prefix.
            Api::Pbs => auth.is_some_and(|a| {
                a == self.pbs_auth || a.replacen("PBSAPIToken ", "PBSAPIToken=", 1) == self.pbs_auth
            }),
        };
        let reply = if !authorized {
            Reply {
                status: 401,
                body: json!({ "data": null }).to_string().into_bytes(),
            }
        } else if !raw_path.starts_with("/api2/json/") {
            err(404, "not found")
        } else {
            match api {
                Api::Pve => self.pve(method, &path, &params),
                Api::Pbs => self.pbs(method, &path, &params),
            }
        };
        self.calls.push(Call {
            api,
            method: method.into(),
            path,
            params,
            status: reply.status,
            at: SystemTime::now(),
        });
        reply
    }

    /// Stops tasks whose time has come and applies their effects.
    fn tick(&mut self) {
        let dur = self.task_duration;
        let mut done = Vec::new();
        for (upid, t) in &mut self.tasks {
            if t.stopped.is_some() || t.end == TaskEnd::Hang || t.started.elapsed() < dur {
                continue;
            }
            t.stopped = Some(match &t.end {
                TaskEnd::Ok => "OK".into(),
                TaskEnd::Warnings(n) => format!("WARNINGS: {n}"),
                TaskEnd::Error(e) => e.clone(),
                TaskEnd::Hang => unreachable!(),
            });
            let failed = matches!(t.end, TaskEnd::Error(_));
            done.push((upid.clone(), t.effect.clone(), failed));
        }
        for (_, effect, failed) in done {
            match effect {
                Effect::Nothing => {}
                Effect::Clone { vmid, guest } => {
                    if !failed {
                        self.guests.insert(vmid, *guest);
                    }
                }
                Effect::Start { vmid } | Effect::Stop { vmid } => {
                    let start = matches!(effect, Effect::Start { .. });
                    if let Some(g) = self.guests.get_mut(&vmid) {
                        if !failed {
                            g.running = start;
                        }
                    }
                }
                Effect::Destroy { vmid } => {
                    if !failed {
                        self.guests.remove(&vmid);
                    }
                }
                Effect::CreateSnap { vmid, snap } => {
                    if let Some(g) = self.guests.get_mut(&vmid) {
                        g.lock = None;
                        if !failed {
                            g.snapshots.push(snap);
                        }
                    }
                }
                Effect::DeleteSnap { vmid, name } => {
                    if let Some(g) = self.guests.get_mut(&vmid) {
                        g.lock = None;
                        if !failed {
                            g.snapshots.retain(|s| s.name != name);
                        }
                    }
                }
                Effect::Unlock { vmids } => {
                    for v in vmids {
                        if let Some(g) = self.guests.get_mut(&v) {
                            g.lock = None;
                        }
                    }
                }
            }
        }
    }

    fn new_task(
        &mut self,
        api: Api,
        node: &str,
        kind: &str,
        id: &str,
        end: TaskEnd,
        effect: Effect,
    ) -> String {
        self.next_pid += 1;
        let start = now_secs();
        let upid = match api {
            Api::Pve => format!(
                "UPID:{node}:{:08X}:{:08X}:{:08X}:{kind}:{id}:backup@pve!hbk:",
                self.next_pid,
                self.next_pid * 7,
                start
            ),
            Api::Pbs => format!(
                "UPID:{node}:{:08X}:{:08X}:{:08X}:{:08X}:{kind}:{id}:backup@pbs!hbk:",
                self.next_pid,
                self.next_pid * 7,
                self.next_pid,
                start
            ),
        };
        self.tasks.insert(
            upid.clone(),
            Task {
                api,
                started: Instant::now(),
                end,
                effect,
                stopped: None,
            },
        );
        upid
    }

    fn task_status(&self, api: Api, upid: &str) -> Reply {
        match self.tasks.get(upid) {
            Some(t) if t.api == api => {
                let mut v = json!({ "upid": upid, "status": if t.stopped.is_some() { "stopped" } else { "running" } });
                if let Some(e) = &t.stopped {
                    v["exitstatus"] = json!(e);
                }
                ok(v)
            }
            _ => err(500, &format!("no such task '{upid}'")),
        }
    }

    fn pve(&mut self, method: &str, path: &str, p: &BTreeMap<String, String>) -> Reply {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            ("GET", ["version"]) => {
                ok(json!({ "version": "9.0.3", "release": "9.0", "repoid": "emulator" }))
            }
            ("GET", ["cluster", "resources"]) => {
                let list: Vec<Value> = self
                    .guests
                    .iter()
                    .map(|(id, g)| {
                        let mut v = json!({
                            "id": format!("{}/{id}", g.kind), "type": g.kind, "vmid": id,
                            "node": g.node, "name": g.name, "status": "running",
                            "template": if g.template { 1 } else { 0 },
                        });
                        if let Some(l) = &g.lock {
                            v["lock"] = json!(l);
                        }
                        v
                    })
                    .collect();
                ok(json!(list))
            }
            ("GET", ["nodes", _node, "tasks", upid, "status"]) => self.task_status(Api::Pve, upid),
            ("GET", ["cluster", "nextid"]) => {
                let free = (100u32..).find(|id| !self.guests.contains_key(id));
                ok(json!(free.map(|id| id.to_string())))
            }
            (_, ["nodes", node, kind @ ("qemu" | "lxc"), vmid, rest @ ..]) => {
                let Ok(vmid) = vmid.parse::<u32>() else {
                    return err(400, "bad vmid");
                };
                match self.guests.get(&vmid) {
                    Some(g) if g.node == *node && g.kind == *kind => {}
                    _ => {
                        return err(
                            500,
                            &format!(
                            "Configuration file 'nodes/{node}/{kind}/{vmid}.conf' does not exist"
                        ),
                        )
                    }
                }
                if let Some(reply) = self.lifecycle_call(method, node, vmid, rest, p) {
                    return reply;
                }
                self.guest_call(method, node, vmid, rest, p)
            }
            ("POST", ["nodes", node, "vzdump"]) => {
                let ids: Vec<u32> = p
                    .get("vmid")
                    .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
                    .unwrap_or_default();
                let here: Vec<u32> = ids
                    .into_iter()
                    .filter(|id| self.guests.get(id).is_some_and(|g| g.node == *node))
                    .collect();
                if here.is_empty() {
                    return ok(json!("OK"));
                }
                for id in &here {
                    if let Some(g) = self.guests.get_mut(id) {
                        g.lock = Some("backup".into());
                    }
                }
                let end = here
                    .iter()
                    .find_map(|id| self.task_ends.get(id).cloned())
                    .unwrap_or(TaskEnd::Ok);
                let id = if here.len() == 1 {
                    here[0].to_string()
                } else {
                    String::new()
                };
                let upid = self.new_task(
                    Api::Pve,
                    node,
                    "vzdump",
                    &id,
                    end,
                    Effect::Unlock { vmids: here },
                );
                ok(json!(upid))
            }
            _ => err(
                501,
                &format!("Method '{method} /{}' not implemented", parts.join("/")),
            ),
        }
    }

    /// Clone, start, stop, state, agent ping and destroy: what a rollback
    /// drill does with a scratch guest. `None`: not one of these calls.
    fn lifecycle_call(
        &mut self,
        method: &str,
        node: &str,
        vmid: u32,
        rest: &[&str],
        p: &BTreeMap<String, String>,
    ) -> Option<Reply> {
        let g = self.guests.get(&vmid)?.clone();
        let qemu = g.kind == "qemu";
        let who = if qemu { "VM" } else { "CT" };
        let task = |verb: &str| format!("{}{verb}", if qemu { "qm" } else { "vz" });
        let reply = match (method, rest) {
            ("POST", ["clone"]) => {
                let Some(newid) = p.get("newid").and_then(|n| n.parse::<u32>().ok()) else {
                    return Some(err(400, "newid: property is missing"));
                };
                if self.guests.contains_key(&newid) {
                    return Some(err(
                        500,
                        &format!("unable to create {who} {newid}: config file already exists"),
                    ));
                }
                let snap = p.get("snapname");
                if let Some(name) = snap {
                    if !g.snapshots.iter().any(|s| &s.name == name) {
                        return Some(err(500, &format!("snapshot '{name}' does not exist")));
                    }
                }
                if !g.template && p.get("full").map(String::as_str) != Some("1") {
                    return Some(err(
                        500,
                        "Linked clone feature is not supported for this guest (not a template)",
                    ));
                }
                let name_key = if qemu { "name" } else { "hostname" };
                let guest = Guest {
                    kind: g.kind.clone(),
                    node: node.into(),
                    name: p.get(name_key).cloned().unwrap_or_default(),
                    lock: None,
                    template: false,
                    snapshots: Vec::new(),
                    running: false,
                    agent: g.agent,
                    cloned_from: Some(vmid),
                };
                let upid = self.new_task(
                    Api::Pve,
                    node,
                    &task("clone"),
                    &vmid.to_string(),
                    TaskEnd::Ok,
                    Effect::Clone {
                        vmid: newid,
                        guest: Box::new(guest),
                    },
                );
                ok(json!(upid))
            }
            ("GET", ["status", "current"]) => {
                let mut v = json!({
                    "vmid": vmid,
                    "status": if g.running { "running" } else { "stopped" },
                    "name": g.name,
                });
                if qemu && g.agent {
                    v["agent"] = json!(1);
                }
                ok(v)
            }
            ("POST", ["status", verb @ ("start" | "stop")]) => {
                let end = match g
                    .cloned_from
                    .and_then(|src| self.clone_start_errors.get(&src))
                {
                    Some(e) if *verb == "start" => TaskEnd::Error(e.clone()),
                    _ => TaskEnd::Ok,
                };
                let effect = if *verb == "start" {
                    Effect::Start { vmid }
                } else {
                    Effect::Stop { vmid }
                };
                let upid =
                    self.new_task(Api::Pve, node, &task(verb), &vmid.to_string(), end, effect);
                ok(json!(upid))
            }
            ("POST", ["agent", "ping"]) => {
                if qemu && g.agent && g.running {
                    ok(json!({}))
                } else {
                    err(500, "QEMU guest agent is not running")
                }
            }
            ("DELETE", []) => {
                if g.running {
                    return Some(err(
                        500,
                        &format!("{who} {vmid} is running - destroy failed"),
                    ));
                }
                let upid = self.new_task(
                    Api::Pve,
                    node,
                    &task("destroy"),
                    &vmid.to_string(),
                    TaskEnd::Ok,
                    Effect::Destroy { vmid },
                );
                ok(json!(upid))
            }
            _ => return None,
        };
        Some(reply)
    }

    fn guest_call(
        &mut self,
        method: &str,
        node: &str,
        vmid: u32,
        rest: &[&str],
        p: &BTreeMap<String, String>,
    ) -> Reply {
        let end = self.task_ends.get(&vmid).cloned().unwrap_or(TaskEnd::Ok);
        let Some(g) = self.guests.get_mut(&vmid) else {
            return err(500, "no such guest");
        };
        let who = if g.kind == "qemu" { "VM" } else { "CT" };
        let (tk, dk) = if g.kind == "qemu" {
            ("qmsnapshot", "qmdelsnapshot")
        } else {
            ("vzsnapshot", "vzdelsnapshot")
        };
        match (method, rest) {
            ("GET", ["snapshot"]) => {
                let mut v: Vec<Value> = g
                    .snapshots
                    .iter()
                    .map(|s| json!({ "name": s.name, "snaptime": s.snaptime, "description": s.description }))
                    .collect();
                v.push(json!({ "name": "current", "description": "You are here!", "running": 1 }));
                ok(json!(v))
            }
            ("POST", ["snapshot"]) => {
                let name = p.get("snapname").cloned().unwrap_or_default();
                if let Some(e) = snapshot_name_error(&g.kind, &name) {
                    return err(400, &e);
                }
                if g.template {
                    return err(500, "you can't snapshot a template");
                }
                if let Some(l) = &g.lock {
                    return err(500, &format!("{who} is locked ({l})"));
                }
                if g.snapshots.iter().any(|s| s.name == name) {
                    return err(500, &format!("snapshot name '{name}' already used"));
                }
                g.lock = Some("snapshot".into());
                let snap = Snap {
                    name,
                    snaptime: now_secs(),
                    description: p.get("description").cloned().unwrap_or_default(),
                };
                let upid = self.new_task(
                    Api::Pve,
                    node,
                    tk,
                    &vmid.to_string(),
                    end,
                    Effect::CreateSnap { vmid, snap },
                );
                ok(json!(upid))
            }
            ("DELETE", ["snapshot", name]) => {
                if !g.snapshots.iter().any(|s| s.name == *name) {
                    return err(500, &format!("snapshot '{name}' does not exist"));
                }
                if let Some(l) = &g.lock {
                    return err(500, &format!("{who} is locked ({l})"));
                }
                g.lock = Some("snapshot-delete".into());
                let name = name.to_string();
                let upid = self.new_task(
                    Api::Pve,
                    node,
                    dk,
                    &vmid.to_string(),
                    end,
                    Effect::DeleteSnap { vmid, name },
                );
                ok(json!(upid))
            }
            _ => err(
                501,
                &format!("Method '{method} {}' not implemented", rest.join("/")),
            ),
        }
    }

    fn pbs(&mut self, method: &str, path: &str, p: &BTreeMap<String, String>) -> Reply {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            ("GET", ["version"]) => {
                ok(json!({ "version": "4.0.11", "release": "4.0", "repoid": "emulator" }))
            }
            ("GET", ["nodes", "localhost", "tasks"]) => ok(json!([])),
            ("POST", ["admin", "datastore", store, "verify"]) => {
                if !self.datastores.contains_key(*store) {
                    return err(404, &format!("datastore '{store}' does not exist"));
                }
                let end = self.verify_end.clone();
                let upid =
                    self.new_task(Api::Pbs, "localhost", "verify", store, end, Effect::Nothing);
                ok(json!(upid))
            }
            ("GET", ["nodes", _n, "tasks", upid, "status"]) => self.task_status(Api::Pbs, upid),
            (_, ["config", "datastore", store]) => {
                let Some(ds) = self.datastores.get_mut(*store) else {
                    return err(404, &format!("datastore '{store}' does not exist"));
                };
                match method {
                    "GET" => {
                        let mut v = json!({ "name": store, "path": ds.path });
                        if let Some(m) = &ds.maintenance {
                            v["maintenance-mode"] = json!(m);
                        }
                        ok(v)
                    }
                    "PUT" => {
                        if p.get("delete")
                            .is_some_and(|d| d.split(',').any(|x| x == "maintenance-mode"))
                        {
                            ds.maintenance = None;
                        } else if let Some(m) = p.get("maintenance-mode") {
                            let ty = m
                                .split(',')
                                .find_map(|kv| match kv.split_once('=') {
                                    Some(("type", t)) => Some(t),
                                    None => Some(kv),
                                    _ => None,
                                })
                                .unwrap_or("");
                            if ty != "read-only" && ty != "offline" {
                                return err(400, &format!("maintenance-mode: invalid type '{ty}'"));
                            }
                            ds.maintenance = Some(m.clone());
                        } else {
                            return ok(Value::Null);
                        }
                        let m = ds.maintenance.clone();
                        ds.history.push((SystemTime::now(), m));
                        ok(Value::Null)
                    }
                    _ => err(501, "not implemented"),
                }
            }
            ("GET", ["admin", "datastore", store, "active-operations"]) => {
                let Some(ds) = self.datastores.get_mut(*store) else {
                    return err(404, &format!("datastore '{store}' does not exist"));
                };
                if ds.maintenance.is_some() {
                    match &mut ds.drain_after {
                        Some(0) => {
                            ds.read = 0;
                            ds.write = 0;
                        }
                        Some(n) => *n -= 1,
                        None => {}
                    }
                }
                ok(json!({ "read": ds.read, "write": ds.write }))
            }
            _ => err(
                501,
                &format!("Method '{method} /{}' not implemented", parts.join("/")),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_follow_pve_rules() {
        assert!(snapshot_name_error("qemu", "hbk-20261127-030000").is_none());
        assert!(snapshot_name_error("qemu", "auto_2025-01-01T03:00").is_some());
        assert!(snapshot_name_error("qemu", "1abc").is_some());
        assert!(snapshot_name_error("qemu", "PENDING").is_some());
        assert!(snapshot_name_error("lxc", "vzdump").is_some());
        assert!(snapshot_name_error("qemu", &"a".repeat(41)).is_some());
    }
}
