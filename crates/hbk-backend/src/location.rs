//! Repository locations as restic spells them, parsed without I/O:
//! a path or `local:PATH`; `s3:[http[s]://]host[:port]/bucket[/prefix]`;
//! `rest:http[s]://[user:pass@]host:port/[path]`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Error;

/// A parsed repository location.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory on a local (or mounted removable) filesystem.
    Local(PathBuf),
    /// A bucket (and optional prefix) on an S3-compatible server.
    S3(S3Location),
    /// A server speaking restic's REST protocol.
    Rest(RestLocation),
}

impl Location {
    /// The directory of a local repository; `None` for remote ones.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Location::Local(p) => Some(p),
            Location::S3(_) | Location::Rest(_) => None,
        }
    }

    /// Whether the repository is reached over the network (its metadata
    /// is worth caching locally).
    pub fn is_remote(&self) -> bool {
        self.local_path().is_none()
    }
}

/// Where an S3 repository lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// `false` only when the location says `http://`.
    pub https: bool,
    /// Host name, with `:port` when one was given.
    pub host: String,
    /// The bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket, without leading or trailing `/`
    /// (empty: the repository is the whole bucket).
    pub prefix: String,
}

impl S3Location {
    /// The endpoint URL, without the bucket: `https://host[:port]`.
    pub fn endpoint(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.host
        )
    }

    /// Whether the host is Amazon's own S3 service.
    pub fn is_aws(&self) -> bool {
        let host = self.host.split(':').next().unwrap_or_default();
        host == "amazonaws.com" || host.ends_with(".amazonaws.com")
    }
}

/// Where a REST repository lives. The credentials are kept apart from
/// the URL so that displaying the location never shows a password.
#[derive(Clone, PartialEq, Eq)]
pub struct RestLocation {
    /// The repository's base URL without user info, ending in `/`.
    pub url: url::Url,
    /// User name for HTTP basic authentication, if given.
    pub user: Option<String>,
    /// Password for HTTP basic authentication, if given.
    pub password: Option<String>,
}

impl fmt::Debug for RestLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestLocation")
            .field("url", &self.url.as_str())
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => f.debug_tuple("Local").field(p).finish(),
            Location::S3(s) => f.debug_tuple("S3").field(s).finish(),
            Location::Rest(r) => f.debug_tuple("Rest").field(r).finish(),
        }
    }
}

impl fmt::Display for Location {
    /// The location for messages: never contains a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3(s) => {
                write!(f, "s3:{}/{}", s.endpoint(), s.bucket)?;
                if !s.prefix.is_empty() {
                    write!(f, "/{}", s.prefix)?;
                }
                Ok(())
            }
            Location::Rest(r) => match &r.user {
                // The user name is not secret and helps telling servers
                // apart; the password is never shown.
                Some(user) => {
                    let mut u = r.url.clone();
                    let _ = u.set_username(user);
                    write!(f, "rest:{u}")
                }
                None => write!(f, "rest:{}", r.url),
            },
        }
    }
}

impl std::str::FromStr for Location {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        parse(s)
    }
}

fn bad(location: &str, reason: &str) -> Error {
    Error::Location {
        // The raw string may hold a REST password: show only the scheme.
        location: redact(location),
        reason: reason.to_string(),
    }
}

/// `location` with any `user:password@` replaced, for error messages.
pub fn redact(location: &str) -> String {
    match (location.find("://"), location.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            format!("{}://***@{}", &location[..start], &location[at + 1..])
        }
        _ => location.to_string(),
    }
}

/// Parses a repository location.
pub fn parse(location: &str) -> Result<Location, Error> {
    if location.is_empty() {
        return Err(bad(location, "empty repository location"));
    }
    if let Some(path) = location.strip_prefix("local:") {
        if path.is_empty() {
            return Err(bad(location, "no path after local:"));
        }
        return Ok(Location::Local(PathBuf::from(path)));
    }
    if let Some(rest) = location.strip_prefix("s3:") {
        return parse_s3(location, rest).map(Location::S3);
    }
    if let Some(rest) = location.strip_prefix("rest:") {
        return parse_rest(location, rest).map(Location::Rest);
    }
    for scheme in ["sftp:", "b2:", "azure:", "gs:", "swift:", "rclone:"] {
        if location.starts_with(scheme) {
            return Err(Error::Unsupported {
                scheme: scheme.trim_end_matches(':').to_string(),
            });
        }
    }
    Ok(Location::Local(PathBuf::from(location)))
}

fn parse_s3(location: &str, rest: &str) -> Result<S3Location, Error> {
    let (https, rest) = if let Some(r) = rest.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = rest.strip_prefix("http://") {
        (false, r)
    } else if rest.contains("://") {
        return Err(bad(
            location,
            "only http:// and https:// are allowed after s3:",
        ));
    } else {
        // `s3:host/bucket/prefix`, as restic: https.
        (true, rest)
    };
    let mut parts = rest.splitn(3, '/');
    let host = parts.next().unwrap_or_default();
    let bucket = parts.next().unwrap_or_default();
    let prefix = parts.next().unwrap_or_default().trim_matches('/');
    if host.is_empty() {
        return Err(bad(location, "no host"));
    }
    if host.contains('@') {
        return Err(bad(
            location,
            "credentials in an s3: location are not supported; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ));
    }
    if bucket.is_empty() {
        return Err(bad(location, "no bucket name"));
    }
    if !valid_bucket(bucket) {
        return Err(bad(location, "invalid bucket name"));
    }
    if prefix
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        && !prefix.is_empty()
    {
        return Err(bad(location, "empty, `.` or `..` segment in the prefix"));
    }
    Ok(S3Location {
        https,
        host: host.to_string(),
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
    })
}

/// S3's bucket naming rules, loosely: 3–63 of `a-z0-9.-_` (some servers
/// allow upper case and `_`; those are accepted too).
fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
}

fn parse_rest(location: &str, rest: &str) -> Result<RestLocation, Error> {
    if !(rest.starts_with("http://") || rest.starts_with("https://")) {
        return Err(bad(location, "expected rest:http://… or rest:https://…"));
    }
    let mut url = url::Url::parse(rest).map_err(|e| bad(location, &e.to_string()))?;
    if !matches!(url.host_str(), Some(h) if !h.is_empty()) {
        return Err(bad(location, "no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(location, "a query or fragment is not allowed"));
    }
    let user = match url.username() {
        "" => None,
        u => Some(decode(location, u)?),
    };
    let password = url.password().map(|p| decode(location, p)).transpose()?;
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(RestLocation {
        url,
        user,
        password,
    })
}

fn decode(location: &str, s: &str) -> Result<String, Error> {
    let bytes: Vec<u8> =
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())
            .unwrap_or_default();
    String::from_utf8(bytes).map_err(|_| bad(location, "user info is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(s: &str) -> S3Location {
        match parse(s).unwrap() {
            Location::S3(l) => l,
            other => panic!("{other:?}"),
        }
    }

    fn rest(s: &str) -> RestLocation {
        match parse(s).unwrap() {
            Location::Rest(l) => l,
            other => panic!("{other:?}"),
        }
    }

    proptest::proptest! {
        /// Any string parses or fails cleanly, and neither the parsed
        /// location nor the error shows a REST password.
        #[test]
        fn never_panics_or_shows_the_password(
            s in ".{0,80}",
            pw in "[A-Za-z0-9]{12,20}",
            host in "[a-z]{1,10}",
        ) {
            let _ = parse(&s);
            let loc = format!("rest:https://user:{pw}@{host}:8000/{s}");
            match parse(&loc) {
                Ok(l) => {
                    proptest::prop_assert!(!l.to_string().contains(&pw));
                    let debug = format!("{l:?}");
                    proptest::prop_assert!(!debug.contains(&pw));
                }
                Err(e) => proptest::prop_assert!(!e.to_string().contains(&pw)),
            }
        }
    }

    #[test]
    fn local_paths() {
        assert_eq!(
            parse("/srv/repo").unwrap(),
            Location::Local("/srv/repo".into())
        );
        assert_eq!(
            parse("local:rel/x").unwrap(),
            Location::Local("rel/x".into())
        );
        assert_eq!(
            parse("local:/srv/r").unwrap().local_path(),
            Some(Path::new("/srv/r"))
        );
        assert!(!parse("/srv/r").unwrap().is_remote());
        assert!(parse("s3:host/bucket").unwrap().is_remote());
        assert!(parse("rest:http://h/").unwrap().is_remote());
        assert!(parse("").is_err());
        assert!(parse("local:").is_err());
        assert!(matches!(
            parse("sftp:host:/x"),
            Err(Error::Unsupported { .. })
        ));
    }

    #[test]
    fn s3_forms() {
        let l = s3("s3:https://minio.lan:9000/bucket/some/prefix/");
        assert_eq!(
            (
                l.https,
                l.host.as_str(),
                l.bucket.as_str(),
                l.prefix.as_str()
            ),
            (true, "minio.lan:9000", "bucket", "some/prefix")
        );
        assert!(!l.is_aws());
        let l = s3("s3:http://127.0.0.1:9000/b-1");
        assert_eq!((l.https, l.prefix.as_str()), (false, ""));
        assert_eq!(l.endpoint(), "http://127.0.0.1:9000");
        let l = s3("s3:s3.amazonaws.com/bucket/prefix");
        assert!(l.https && l.is_aws());
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("bucket", "prefix"));
        assert_eq!(
            parse("s3:s3.amazonaws.com/bucket/prefix")
                .unwrap()
                .to_string(),
            "s3:https://s3.amazonaws.com/bucket/prefix"
        );
        for badloc in [
            "s3:",
            "s3:host",
            "s3:host/",
            "s3:ftp://host/b",
            "s3:https://k:s@host/bucket",
            "s3:host/bucket/a//b",
            "s3:host/bucket/../b",
            "s3:host/b",
        ] {
            assert!(parse(badloc).is_err(), "{badloc}");
        }
    }

    #[test]
    fn rest_forms_hide_the_password() {
        let l = rest("rest:https://alice:s%40cret@backup.lan:8000/repo");
        assert_eq!(l.user.as_deref(), Some("alice"));
        assert_eq!(l.password.as_deref(), Some("s@cret"));
        assert_eq!(l.url.as_str(), "https://backup.lan:8000/repo/");
        let shown = parse("rest:https://alice:s%40cret@backup.lan:8000/repo")
            .unwrap()
            .to_string();
        assert_eq!(shown, "rest:https://alice@backup.lan:8000/repo/");
        assert!(!format!("{l:?}").contains("cret"));
        let l = rest("rest:http://127.0.0.1:8000/");
        assert_eq!((l.user, l.url.as_str()), (None, "http://127.0.0.1:8000/"));
        for badloc in [
            "rest:",
            "rest:ftp://h/",
            "rest:127.0.0.1:8000/",
            "rest:http://",
        ] {
            assert!(parse(badloc).is_err(), "{badloc}");
        }
        let err = parse("rest:http://u:topsecret@h:1/?x")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("topsecret"), "{err}");
    }
}
