//! Loading a plan: parsing, then the semantic checks of the parsed plan;
//! every problem is reported at once.

use std::collections::BTreeSet;
use std::path::Path;

use hbk_engine::commands::check::ReadData;

use super::{ApiConfig, Guests, NotifyKind, Plan, RepoConfig, PBS_SOURCE};
use crate::{Error, Result};

impl Plan {
    /// Reads, parses and validates a plan file.
    pub fn load(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadPlan {
            path: path.to_path_buf(),
            source,
        })?;
        Plan::parse(&text, path)
    }

    /// Parses and validates plan text; `path` is only for messages.
    pub fn parse(text: &str, path: &Path) -> Result<Plan> {
        let plan: Plan = toml::from_str(text).map_err(|e| Error::ParsePlan {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let problems = problems(&plan);
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(Error::InvalidPlan(problems))
        }
    }
}

/// The problems of `plan`, each a sentence naming the field.
pub(super) fn problems(plan: &Plan) -> Vec<String> {
    let mut p = Vec::new();
    if !is_word(&plan.name) {
        p.push(format!(
            "name {:?}: use letters, digits, '-' and '_' only",
            plan.name
        ));
    }
    if !plan.state_dir.is_absolute() {
        p.push("state_dir must be an absolute path".into());
    }
    repositories(plan, &mut p);
    if let Some(pve) = &plan.proxmox {
        api("proxmox.api", &pve.api, "PVE", &mut p);
        let prefix = &pve.snapshot_prefix;
        if let Some(why) = snapshot_prefix_problem(prefix) {
            p.push(format!("proxmox.snapshot_prefix {prefix:?}: {why}"));
        }
        if pve.keep == 0 {
            p.push("proxmox.keep must be at least 1".into());
        }
        if let Guests::Ids(ids) = &pve.guests {
            if ids.is_empty() {
                p.push("proxmox.guests: the list is empty (use \"all\" or VMIDs)".into());
            }
            if let Some(bad) = ids.iter().find(|&&id| id < 100) {
                p.push(format!("proxmox.guests: VMID {bad} is below 100"));
            }
        }
        if let Some(v) = &pve.vzdump {
            if !["snapshot", "suspend", "stop"].contains(&v.mode.as_str()) {
                p.push(format!(
                    "proxmox.vzdump.mode {:?}: use snapshot, suspend or stop",
                    v.mode
                ));
            }
            if v.storage.is_empty() {
                p.push("proxmox.vzdump.storage is empty".into());
            }
        }
    }
    if let Some(pbs) = &plan.pbs {
        api("pbs.api", &pbs.api, "PBS", &mut p);
        if pbs.datastore.is_empty() {
            p.push("pbs.datastore is empty".into());
        }
        if !pbs.path.is_absolute() {
            p.push("pbs.path must be an absolute path".into());
        }
    }
    sources(plan, &mut p);
    if plan.drill.files == 0 {
        p.push("drill.files must be at least 1".into());
    }
    if let Err(e) = plan.drill.read_data_subset.parse::<ReadData>() {
        p.push(format!("drill.read_data_subset: {e}"));
    }
    let named = |field: &str, names: &[String], p: &mut Vec<String>| {
        for r in names {
            if !plan.repositories.contains_key(r) {
                p.push(format!("{field}: no repository named {r:?}"));
            }
        }
    };
    named(
        "drill.repositories",
        plan.drill.repositories.as_deref().unwrap_or_default(),
        &mut p,
    );
    drill_kinds(plan, &mut p);
    notify_targets(plan, &mut p);
    if let Some(full) = &plan.drill.full {
        named(
            "drill.full.repositories",
            full.repositories.as_deref().unwrap_or_default(),
            &mut p,
        );
    }
    if let Some(pbs) = &plan.drill.pbs {
        named("drill.pbs.repository", pbs.repository.as_slice(), &mut p);
    }
    if let Some(scrub) = &plan.scrub {
        if scrub.within_days == 0 {
            p.push("scrub.within_days must be at least 1".into());
        }
        named(
            "scrub.repositories",
            scrub.repositories.as_deref().unwrap_or_default(),
            &mut p,
        );
    }
    p
}

/// Each notification target has what its kind needs.
fn notify_targets(plan: &Plan, p: &mut Vec<String>) {
    for (i, n) in plan.notify.iter().enumerate() {
        let at = format!("notify[{i}]");
        match n.kind {
            NotifyKind::Email => {
                if n.to.is_empty() {
                    p.push(format!("{at}: email needs `to`"));
                }
                if n.sendmail.is_some() == n.smtp.is_some() {
                    p.push(format!(
                        "{at}: email needs exactly one of `sendmail` and `smtp`"
                    ));
                }
                if let Some(s) = &n.smtp {
                    if s.user.is_some() && !s.starttls {
                        p.push(format!(
                            "{at}.smtp: a user and password go only over STARTTLS"
                        ));
                    }
                }
            }
            kind => match n.url.as_deref().map(reqwest::Url::parse) {
                None => p.push(format!("{at}: {} needs `url`", kind.name())),
                Some(Err(e)) => p.push(format!("{at}.url: {e}")),
                Some(Ok(u)) if !matches!(u.scheme(), "http" | "https") => {
                    p.push(format!("{at}.url: use http or https"))
                }
                Some(Ok(_)) => {}
            },
        }
        if n.kind == NotifyKind::Gotify && n.token.is_none() {
            p.push(format!("{at}: gotify needs the application `token`"));
        }
        if n.on.is_empty() {
            p.push(format!("{at}.on is empty"));
        }
    }
}

/// The rollback and PBS drills need what they drill.
fn drill_kinds(plan: &Plan, p: &mut Vec<String>) {
    if let Some(rb) = &plan.drill.rollback {
        match &plan.proxmox {
            None => p.push("drill.rollback needs a [proxmox] section".into()),
            Some(pve) => {
                if rb.guests.as_ref().is_some_and(Vec::is_empty) {
                    p.push("drill.rollback.guests: the list is empty".into());
                }
                if let (Some(ids), Guests::Ids(plan_ids)) = (&rb.guests, &pve.guests) {
                    for id in ids.iter().filter(|id| !plan_ids.contains(id)) {
                        p.push(format!(
                            "drill.rollback.guests: {id} is not one of proxmox.guests (it has no plan snapshot)"
                        ));
                    }
                }
                if let (Some(v), Guests::Ids(plan_ids)) = (rb.scratch_vmid, &pve.guests) {
                    if plan_ids.contains(&v) {
                        p.push(format!(
                            "drill.rollback.scratch_vmid {v} is one of the plan's guests"
                        ));
                    }
                }
                if rb.scratch_vmid.is_some_and(|v| v < 100) {
                    p.push("drill.rollback.scratch_vmid must be at least 100".into());
                }
            }
        }
    }
    if plan.drill.pbs.is_some() && plan.pbs.is_none() {
        p.push("drill.pbs needs a [pbs] section".into());
    }
}

fn repositories(plan: &Plan, p: &mut Vec<String>) {
    if !plan.repositories.contains_key(&plan.primary) {
        p.push(format!(
            "primary: no repository named {:?} in [repositories]",
            plan.primary
        ));
    }
    let mut seen = BTreeSet::new();
    for t in &plan.copy_targets {
        if !plan.repositories.contains_key(t) {
            p.push(format!("copy_targets: no repository named {t:?}"));
        }
        if t == &plan.primary {
            p.push(format!("copy_targets: {t:?} is the primary repository"));
        }
        if !seen.insert(t) {
            p.push(format!("copy_targets: {t:?} is listed twice"));
        }
    }
    for (name, r) in &plan.repositories {
        if name != &plan.primary && !plan.copy_targets.contains(name) {
            p.push(format!(
                "repositories.{name}: neither the primary nor a copy target"
            ));
        }
        if r.url.trim().is_empty() {
            p.push(format!("repositories.{name}.url is empty"));
        }
        repository(name, r, p);
    }
}

/// The problems of one repository's location, options, guard and cache.
fn repository(name: &str, r: &RepoConfig, p: &mut Vec<String>) {
    match hbk_backend::location::parse(&r.url) {
        Ok(loc) => {
            if (r.require_mount || r.min_free.is_some()) && loc.is_remote() {
                p.push(format!(
                    "repositories.{name}: require_mount and min_free need a local path url"
                ));
            }
        }
        Err(e) if !r.url.trim().is_empty() => p.push(format!("repositories.{name}.url: {e}")),
        Err(_) => {}
    }
    if let Err(e) = hbk_backend::Options::parse(&r.options.0) {
        p.push(format!("repositories.{name}.options: {e}"));
    }
    if let Some(id) = &r.expect_repository_id {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            p.push(format!(
                "repositories.{name}.expect_repository_id {id:?}: use the repository id or a prefix of it (hex)"
            ));
        }
    }
    if r.no_cache && r.cache_dir.is_some() {
        p.push(format!(
            "repositories.{name}: cache_dir and no_cache exclude each other"
        ));
    }
}

fn sources(plan: &Plan, p: &mut Vec<String>) {
    if plan.sources.is_empty() && plan.pbs.is_none() {
        p.push("nothing to back up: add [[sources]] or [pbs]".into());
    }
    let mut names = BTreeSet::new();
    for s in &plan.sources {
        if !is_word(&s.name) {
            p.push(format!(
                "sources: name {:?}: use letters, digits, '-' and '_' only",
                s.name
            ));
        }
        if s.name == PBS_SOURCE {
            p.push(format!(
                "sources: the name {PBS_SOURCE:?} is reserved for [pbs]"
            ));
        }
        if !names.insert(&s.name) {
            p.push(format!("sources: {:?} is defined twice", s.name));
        }
        if s.paths.is_empty() {
            p.push(format!("sources.{}: paths is empty", s.name));
        }
        if let Some(rel) = s.paths.iter().find(|p| !p.is_absolute()) {
            p.push(format!(
                "sources.{}: path {} is not absolute",
                s.name,
                rel.display()
            ));
        }
        if let Some(t) = s.tags.iter().find(|t| t.is_empty() || t.contains(',')) {
            p.push(format!(
                "sources.{}: tag {t:?} is empty or has a comma",
                s.name
            ));
        }
    }
}

fn api(section: &str, a: &ApiConfig, kind: &str, p: &mut Vec<String>) {
    if !a.url.starts_with("https://") {
        p.push(format!("{section}.url must start with https://"));
    }
    if let Some(why) = token_id_problem(&a.token_id) {
        p.push(format!("{section}.token_id {:?}: {why}", a.token_id));
    }
    if a.fingerprint.is_some() && a.ca_file.is_some() {
        p.push(format!("{section}: give fingerprint or ca_file, not both"));
    }
    if let Some(fp) = &a.fingerprint {
        if crate::api::tls::parse_fingerprint(fp).is_none() {
            p.push(format!(
                "{section}.fingerprint: expected 32 hex pairs separated by ':' (the {kind} certificate's SHA-256)"
            ));
        }
    }
    if a.poll_interval.0.is_zero() {
        p.push(format!("{section}.poll_interval must not be zero"));
    }
}

/// Why a token id is not `USER@REALM!TOKENNAME`, if it is not.
pub(crate) fn token_id_problem(id: &str) -> Option<&'static str> {
    let Some((user, token)) = id.split_once('!') else {
        return Some("expected USER@REALM!TOKENNAME");
    };
    let Some((u, realm)) = user.split_once('@') else {
        return Some("the user part needs @REALM");
    };
    if u.is_empty() || realm.is_empty() {
        return Some("user and realm must not be empty");
    }
    let mut chars = token.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !first_ok || !rest_ok || token.len() < 2 {
        return Some("the token name must start with a letter and hold only letters, digits, '.', '-', '_' (2 or more)");
    }
    None
}

/// Why a snapshot prefix cannot make valid PVE snapshot names, if it cannot.
pub(crate) fn snapshot_prefix_problem(prefix: &str) -> Option<&'static str> {
    let mut chars = prefix.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return Some("must start with a letter");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Some("only letters, digits, '-' and '_' are allowed");
    }
    // PREFIX-YYYYMMDD-HHMMSS must fit PVE's 40 characters.
    if prefix.len() + 16 > 40 {
        return Some("at most 24 characters (names are PREFIX-YYYYMMDD-HHMMSS, 40 at most)");
    }
    None
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids() {
        assert_eq!(token_id_problem("backup@pve!hbk"), None);
        assert!(token_id_problem("backup@pve").is_some());
        assert!(token_id_problem("backup!hbk").is_some());
        assert!(token_id_problem("backup@pve!1x").is_some());
        assert!(token_id_problem("backup@pve!a b").is_some());
    }

    #[test]
    fn prefixes() {
        assert_eq!(snapshot_prefix_problem("hbk"), None);
        assert!(snapshot_prefix_problem("1hbk").is_some());
        assert!(snapshot_prefix_problem("hbk.x").is_some());
        assert!(snapshot_prefix_problem(&"a".repeat(25)).is_some());
        assert_eq!(snapshot_prefix_problem(&"a".repeat(24)), None);
    }

    fn repo(toml_text: &str) -> Vec<String> {
        let r: RepoConfig = toml::from_str(toml_text).unwrap();
        let mut p = Vec::new();
        repository("r", &r, &mut p);
        p
    }

    #[test]
    fn repository_options_guard_and_cache() {
        let pw = "password = { env = \"X\" }\n";
        assert!(repo(&format!("url = \"/srv/r\"\n{pw}options = [\"retry.max-attempts=3\"]\nexpect_repository_id = \"a1B2\"\n")).is_empty());
        let all = |text: &str| repo(&format!("{pw}{text}")).join("\n");
        let p = all("url = \"s3:h/bucket\"\nrequire_mount = true\n");
        assert!(p.contains("need a local path url"), "{p}");
        let p = all("url = \"sftp:h:/r\"\n");
        assert!(p.contains("repositories.r.url"), "{p}");
        let p = all("url = \"/r\"\n[options]\ns3.regoin = \"x\"\n");
        assert!(p.contains("repositories.r.options"), "{p}");
        let p = all("url = \"/r\"\nexpect_repository_id = \"xyz\"\n");
        assert!(p.contains("expect_repository_id"), "{p}");
        let p = all("url = \"/r\"\nno_cache = true\ncache_dir = \"/c\"\n");
        assert!(p.contains("exclude each other"), "{p}");
    }
}
