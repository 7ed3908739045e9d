//! Secrets (repository passwords, API token secrets) and where they come
//! from. A [`Secret`] never shows its value in `Debug` or `Display`, so it
//! cannot end up in a log, a report or an error message by accident.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A secret value; `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it (a header, a key
    /// derivation). Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret comes from: exactly one of `file`, `env` or `command`.
///
/// ```toml
/// password = { file = "/etc/hbk/usb.pw" }
/// password = { env = "HBK_CLOUD_PASSWORD" }
/// password = { command = "rbw get hbk-cloud" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum SecretSource {
    /// A file; surrounding white space is trimmed.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A shell command (`sh -c`) printing the secret on standard output,
    /// e.g. `rbw get NAME` or `bw get password NAME`.
    Command(String),
}

impl SecretSource {
    /// Resolves the secret. `name` says where it is used, for errors.
    pub fn resolve(&self, name: &str) -> Result<Secret> {
        let err = |message: String| Error::Secret {
            name: name.to_string(),
            message,
        };
        let value = match self {
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map_err(|e| err(format!("reading {}: {e}", path.display())))?
                .trim()
                .to_string(),
            SecretSource::Env(var) => std::env::var(var)
                .map_err(|_| err(format!("environment variable {var} is not set")))?,
            SecretSource::Command(cmd) => {
                let out = Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .stdin(Stdio::null())
                    .stderr(Stdio::piped())
                    .output()
                    .map_err(|e| err(format!("running command: {e}")))?;
                if !out.status.success() {
                    // The command's error output is shown (it describes the
                    // failure); its standard output might hold the secret.
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    return Err(err(format!(
                        "command `{cmd}` failed ({}): {}",
                        out.status,
                        stderr.trim()
                    )));
                }
                String::from_utf8(out.stdout)
                    .map_err(|_| err("command printed something that is not UTF-8".into()))?
                    .trim()
                    .to_string()
            }
        };
        if value.is_empty() {
            return Err(err("the secret is empty".into()));
        }
        Ok(Secret(value))
    }

    /// A short description that names the source but never the value.
    pub fn describe(&self) -> String {
        match self {
            SecretSource::File(p) => format!("file {}", p.display()),
            SecretSource::Env(v) => format!("env {v}"),
            SecretSource::Command(c) => format!("command `{c}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "<redacted>");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn sources_resolve_and_trim() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "  from-file\n").unwrap();
        let s = SecretSource::File(f).resolve("t").unwrap();
        assert_eq!(s.expose(), "from-file");
        let s = SecretSource::Command("printf ' from-cmd\\n'".into())
            .resolve("t")
            .unwrap();
        assert_eq!(s.expose(), "from-cmd");
    }

    #[test]
    fn failures_are_clear_and_hold_no_value() {
        let e = SecretSource::Command("printf 'val%sue' 42; echo oops >&2; exit 3".into())
            .resolve("repositories.usb.password")
            .unwrap_err()
            .to_string();
        assert!(e.contains("repositories.usb.password"), "{e}");
        assert!(e.contains("oops"), "{e}");
        assert!(!e.contains("val42ue"), "{e}");
        let e = SecretSource::Env("HBK_PLAN_TEST_SURELY_UNSET".into())
            .resolve("x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("HBK_PLAN_TEST_SURELY_UNSET is not set"), "{e}");
        let e = SecretSource::Command("true".into())
            .resolve("x")
            .unwrap_err();
        assert!(e.to_string().contains("empty"));
    }
}
