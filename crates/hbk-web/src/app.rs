//! The routes: dashboard, history, snapshot browser (list, `ls`, download
//! one file), `/metrics` and `/healthz`, behind basic or bearer
//! authentication when configured. Repositories are opened once (their
//! keys derived) and their index reloaded at most every minute.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hbk_engine::commands::dump::ContentReader;
use hbk_engine::snapshots::{list_snapshots, SnapshotFilter};
use hbk_engine::walk::resolve_path;
use hbk_plan::config::Plan;
use hbk_plan::engine::RepoTarget;
use hbk_plan::report::{prometheus_text, HistoryEntry, RunReport};
use hbk_plan::secret::Secret;
use hbk_repo::{Id, IndexedRepository, Node, NodeType};
use subtle::ConstantTimeEq;

use crate::escape::esc;
use crate::http::{Body, Request, Response};
use crate::pages::{self, page};

/// How long a loaded index is used before it is loaded again.
const INDEX_TTL: Duration = Duration::from_secs(60);
/// Runs the history page plots at most.
const HISTORY: usize = 1000;

/// Who may read the pages.
#[derive(Clone, Default)]
pub struct Auth {
    /// `user:password` for basic authentication.
    pub basic: Option<(String, Secret)>,
    /// A bearer token.
    pub token: Option<Secret>,
}

impl Auth {
    /// Whether anything is required.
    pub fn required(&self) -> bool {
        self.basic.is_some() || self.token.is_some()
    }

    fn allows(&self, req: &Request) -> bool {
        if !self.required() {
            return true;
        }
        let Some(h) = req.headers.get("authorization") else {
            return false;
        };
        let eq = |a: &[u8], b: &[u8]| bool::from(a.ct_eq(b));
        if let (Some(tok), Some(given)) = (&self.token, h.strip_prefix("Bearer ")) {
            if eq(given.trim().as_bytes(), tok.expose().as_bytes()) {
                return true;
            }
        }
        if let (Some((user, pw)), Some(given)) = (&self.basic, h.strip_prefix("Basic ")) {
            let want = format!("{user}:{}", pw.expose());
            if let Ok(got) = base64::engine::general_purpose::STANDARD.decode(given.trim()) {
                return eq(&got, want.as_bytes());
            }
        }
        false
    }
}

/// A path in a snapshot, found.
struct Located {
    name: String,
    ix: Arc<IndexedRepository>,
    snap: Id,
    path: Vec<u8>,
    /// The node at the path when it is not a directory.
    node: Option<Node>,
    /// The directory's tree (for a node that is not one: its parent's).
    tree: Id,
}

struct Opened {
    target: RepoTarget,
    indexed: Option<(Arc<IndexedRepository>, Instant)>,
}

/// The server's state.
pub struct App {
    plan: Plan,
    auth: Auth,
    repos: Mutex<HashMap<String, Opened>>,
}

fn html(s: String) -> Response {
    Response::new(200, "text/html; charset=utf-8", s)
}

fn text(status: u16, s: impl Into<String>) -> Response {
    Response::new(status, "text/plain; charset=utf-8", s.into())
}

/// `value` as a query parameter.
fn q(value: &[u8]) -> String {
    percent_encoding::percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl App {
    /// The app for `plan`.
    pub fn new(plan: Plan, auth: Auth) -> App {
        App {
            plan,
            auth,
            repos: Mutex::new(HashMap::new()),
        }
    }

    /// Answers one request.
    pub fn handle(&self, req: &Request) -> Response {
        if req.path == "/healthz" {
            return text(200, "ok\n");
        }
        if !self.auth.allows(req) {
            return text(401, "authentication required\n")
                .with_header("WWW-Authenticate", "Basic realm=\"hbk\"".into());
        }
        let report = RunReport::read(&self.plan.json_path()).ok().flatten();
        match req.path.as_str() {
            "/" => html(pages::dashboard(&self.plan, report.as_ref())),
            "/history" => {
                let runs = HistoryEntry::read_all(&self.plan.state_dir.join("runs.jsonl"), HISTORY);
                html(pages::history(&self.plan, &runs))
            }
            "/metrics" => match report {
                Some(r) => Response::new(200, "text/plain; version=0.0.4", prometheus_text(&r)),
                None => text(503, "the plan has not run yet\n"),
            },
            "/snapshots" => self.snapshots(req),
            "/browse" => self.browse(req),
            "/download" => self.download(req),
            _ => text(404, "not found\n"),
        }
    }

    fn with_repo<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Opened) -> Result<T, String>,
    ) -> Result<T, String> {
        let Some(cfg) = self.plan.repositories.get(name) else {
            return Err(format!("no repository {name:?} in the plan"));
        };
        let mut repos = self.repos.lock().unwrap_or_else(|e| e.into_inner());
        if !repos.contains_key(name) {
            let target = hbk_plan::preflight::check_repo(name, cfg)?;
            repos.insert(
                name.to_string(),
                Opened {
                    target,
                    indexed: None,
                },
            );
        }
        let opened = repos.get_mut(name).ok_or("gone")?;
        f(opened)
    }

    fn indexed(&self, name: &str) -> Result<Arc<IndexedRepository>, String> {
        self.with_repo(name, |o| {
            if let Some((ix, at)) = &o.indexed {
                if at.elapsed() < INDEX_TTL {
                    return Ok(ix.clone());
                }
            }
            let repo = o.target.open().map_err(|e| e.to_string())?;
            let ix = Arc::new(repo.into_indexed().map_err(|e| e.to_string())?);
            o.indexed = Some((ix.clone(), Instant::now()));
            Ok(ix)
        })
    }

    fn snapshots(&self, req: &Request) -> Response {
        let mut body = String::from("<p>Repositories: ");
        for name in self.plan.repo_order() {
            let _ = write!(
                body,
                "<a class=\"repo-link\" href=\"/snapshots?repo={}\">{}</a> ",
                q(name.as_bytes()),
                esc(name)
            );
        }
        body.push_str("</p>");
        if let Some(name) = req.param("repo") {
            let listed = self.with_repo(&name, |o| {
                let repo = o.target.open().map_err(|e| e.to_string())?;
                list_snapshots(&repo, &SnapshotFilter::default()).map_err(|e| e.to_string())
            });
            match listed {
                Err(e) => {
                    let _ = write!(body, "<p class=\"error\">{}</p>", esc(&e));
                }
                Ok(mut list) => {
                    list.sort_by_key(|(_, s)| std::cmp::Reverse(s.time.0));
                    let _ = write!(body, "<h2>{}</h2><table id=\"snapshots\"><tr><th>id</th><th>time</th><th>host</th><th>tags</th><th>paths</th></tr>", esc(&name));
                    for (id, s) in list {
                        let _ = write!(
                            body,
                            "<tr><td><a class=\"snapshot\" href=\"/browse?repo={r}&amp;snap={i}&amp;path=%2F\">{short}</a></td><td>{t}</td><td>{h}</td><td>{tags}</td><td>{p}</td></tr>",
                            r = q(name.as_bytes()),
                            i = id.to_hex(),
                            short = id.short(),
                            t = s.time.0.format("%Y-%m-%d %H:%M:%S"),
                            h = esc(&s.hostname),
                            tags = esc(&s.tags.join(", ")),
                            p = esc(&s.paths.join(", ")),
                        );
                    }
                    body.push_str("</table>");
                }
            }
        }
        html(page(&self.plan.name, "Snapshots", &body))
    }

    /// The snapshot, and the node at `path` in it (`None` for its root).
    fn locate(&self, req: &Request) -> Result<Located, String> {
        let name = req.param("repo").ok_or("no repository")?;
        let snap: Id = req
            .param("snap")
            .ok_or("no snapshot")?
            .parse()
            .map_err(|_| "bad snapshot id")?;
        let path = req
            .query
            .get("path")
            .cloned()
            .unwrap_or_else(|| b"/".to_vec());
        let ix = self.indexed(&name)?;
        let sn = ix
            .repository()
            .load_snapshot(&snap)
            .map_err(|e| format!("snapshot {}: {e}", snap.short()))?;
        let (tree, node) =
            resolve_path(&ix, &sn.tree, &path, &snap.short()).map_err(|e| e.to_string())?;
        Ok(Located {
            name,
            ix,
            snap,
            path,
            node,
            tree,
        })
    }

    fn browse(&self, req: &Request) -> Response {
        let Located {
            name,
            ix,
            snap,
            path,
            node,
            tree,
        } = match self.locate(req) {
            Ok(x) => x,
            Err(e) => return text(404, format!("{e}\n")),
        };
        if node.is_some() {
            return text(400, "not a directory\n");
        }
        let nodes = match ix.tree(&tree) {
            Ok(t) => t.nodes,
            Err(e) => return text(500, format!("{e}\n")),
        };
        let shown = String::from_utf8_lossy(&path).into_owned();
        let mut body = format!(
            "<p>Repository <b>{}</b>, snapshot <b>{}</b>, <code id=\"path\">{}</code></p><table id=\"listing\"><tr><th>name</th><th>type</th><th>size</th><th>modified</th></tr>",
            esc(&name),
            snap.short(),
            esc(&shown)
        );
        let base = path.strip_suffix(b"/").unwrap_or(&path).to_vec();
        for n in nodes {
            let mut child = base.clone();
            child.push(b'/');
            child.extend_from_slice(&n.name);
            let label = esc(&String::from_utf8_lossy(&n.name));
            let link = match n.node_type {
                NodeType::Dir => format!(
                    "<a class=\"dir\" href=\"/browse?repo={}&amp;snap={}&amp;path={}\">{label}/</a>",
                    q(name.as_bytes()),
                    snap.to_hex(),
                    q(&child)
                ),
                NodeType::File => format!(
                    "<a class=\"file\" download href=\"/download?repo={}&amp;snap={}&amp;path={}\">{label}</a>",
                    q(name.as_bytes()),
                    snap.to_hex(),
                    q(&child)
                ),
                _ => label,
            };
            let _ = write!(
                body,
                "<tr><td>{link}</td><td>{:?}</td><td>{}</td><td>{}</td></tr>",
                n.node_type,
                if n.node_type == NodeType::File {
                    n.size.to_string()
                } else {
                    String::new()
                },
                n.mtime.0.format("%Y-%m-%d %H:%M:%S")
            );
        }
        body.push_str("</table>");
        html(page(&self.plan.name, "Browse", &body))
    }

    fn download(&self, req: &Request) -> Response {
        let Located { ix, path, node, .. } = match self.locate(req) {
            Ok(x) => x,
            Err(e) => return text(404, format!("{e}\n")),
        };
        let Some(n) = node.filter(|n| n.node_type == NodeType::File) else {
            return text(400, "not a file\n");
        };
        let file = String::from_utf8_lossy(path.rsplit(|b| *b == b'/').next().unwrap_or(b"file"))
            .replace(['"', '\\'], "_");
        Response {
            status: 200,
            content_type: "application/octet-stream",
            headers: vec![(
                "Content-Disposition".into(),
                format!("attachment; filename=\"{file}\""),
            )],
            body: Body::Stream(
                n.size,
                Box::new(move |w| std::io::copy(&mut ContentReader::new(&ix, &n), w).map(|_| ())),
            ),
        }
    }
}
