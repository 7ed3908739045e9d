//! UPIDs and task exit statuses, shared by the PVE and PBS clients.

use serde::{Deserialize, Serialize};

/// A task id as returned by methods that start background work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid {
    /// The whole UPID string.
    pub raw: String,
    /// The node the task runs on (its status lives there).
    pub node: String,
    /// The task type (`qmsnapshot`, `vzdump`, …).
    pub kind: String,
}

impl Upid {
    /// Parses a PVE UPID (`UPID:node:pid:pstart:starttime:type:id:user:`)
    /// or a PBS one (one more field, the task id, before starttime).
    pub fn parse(s: &str) -> Option<Upid> {
        let fields: Vec<&str> = s.split(':').collect();
        if fields.first() != Some(&"UPID") || !s.ends_with(':') {
            return None;
        }
        let kind_at = match fields.len() {
            9 => 5,  // PVE: 8 fields plus the empty one after the last ':'
            10 => 6, // PBS
            _ => return None,
        };
        let node = fields[1];
        if node.is_empty() || fields[2..kind_at].iter().any(|f| f.is_empty()) {
            return None;
        }
        if !fields[2..kind_at]
            .iter()
            .all(|f| f.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return None;
        }
        Some(Upid {
            raw: s.to_string(),
            node: node.to_string(),
            kind: fields[kind_at].to_string(),
        })
    }
}

/// How a stopped task ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "detail", rename_all = "lowercase")]
pub enum TaskOutcome {
    /// `OK`.
    Ok,
    /// `WARNINGS: n`: done, with warnings (e.g. not quiesced).
    Warnings(u32),
    /// Anything else: the error text.
    Failed(String),
}

impl TaskOutcome {
    /// Classifies an `exitstatus` value.
    pub fn from_exitstatus(s: &str) -> TaskOutcome {
        if s == "OK" {
            return TaskOutcome::Ok;
        }
        if let Some(n) = s.strip_prefix("WARNINGS: ") {
            if let Ok(n) = n.trim().parse() {
                return TaskOutcome::Warnings(n);
            }
        }
        TaskOutcome::Failed(s.to_string())
    }
}

/// The fields of `GET …/tasks/{upid}/status` that matter here.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskStatus {
    /// `running` or `stopped`.
    pub status: String,
    /// Only when stopped.
    #[serde(default)]
    pub exitstatus: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn upids_parse() {
        let u = Upid::parse("UPID:pve1:0003A2C8:01F4D1B2:6650A1B2:qmsnapshot:100:backup@pve!orch:")
            .unwrap();
        assert_eq!(u.node, "pve1");
        assert_eq!(u.kind, "qmsnapshot");
        let u = Upid::parse(
            "UPID:pbs:000004D2:00000A3F:00000001:6650A1B2:garbage_collection:store1:root@pam:",
        )
        .unwrap();
        assert_eq!(u.node, "pbs");
        assert_eq!(u.kind, "garbage_collection");
        assert!(Upid::parse("OK").is_none());
        assert!(Upid::parse("UPID:pve1:zz:1:2:qmsnapshot:100:u:").is_none());
    }

    #[test]
    fn exit_statuses() {
        assert_eq!(TaskOutcome::from_exitstatus("OK"), TaskOutcome::Ok);
        assert_eq!(
            TaskOutcome::from_exitstatus("WARNINGS: 2"),
            TaskOutcome::Warnings(2)
        );
        assert_eq!(
            TaskOutcome::from_exitstatus("snapshot failed"),
            TaskOutcome::Failed("snapshot failed".into())
        );
    }

    proptest! {
        #[test]
        fn upid_parser_never_panics(s in "(UPID:)?[a-z0-9:!@]{0,60}") {
            let _ = Upid::parse(&s);
        }
    }
}
