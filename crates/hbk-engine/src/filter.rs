//! restic's include/exclude patterns.
//!
//! A pattern is split at `/` into components, each a shell glob (`*`, `?`,
//! `[…]`, `\` escapes); `**` matches any number of components. A pattern
//! starting with `/` is anchored at the root, others may match starting at
//! any depth. A pattern that matches a directory also matches everything
//! below it.

use crate::{Error, Result};

/// A path about to be matched against patterns: its bytes, and its
/// lowercase form, made when the first case-insensitive pattern asks.
#[derive(Debug)]
pub struct Candidate<'a> {
    bytes: &'a [u8],
    lower: std::cell::OnceCell<Vec<u8>>,
}

impl<'a> Candidate<'a> {
    /// `path` (absolute, `/`-separated), not yet lowercased.
    pub fn new(bytes: &'a [u8]) -> Candidate<'a> {
        Candidate {
            bytes,
            lower: std::cell::OnceCell::new(),
        }
    }

    fn lowercase(&self) -> &[u8] {
        self.lower.get_or_init(|| {
            String::from_utf8_lossy(self.bytes)
                .to_lowercase()
                .into_bytes()
        })
    }
}

/// Whether any of `patterns` matches `path` itself (or a parent of it).
pub fn matches_any(patterns: &[Pattern], path: &[u8]) -> bool {
    let candidate = Candidate::new(path);
    patterns.iter().any(|p| p.matches_candidate(&candidate).0)
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    anchored: bool,
    parts: Vec<String>,
    /// Matched against the lowercased path (`--iexclude`, `--iinclude`).
    fold_case: bool,
}

impl Pattern {
    /// Compiles `pattern` to match regardless of case (restic's
    /// `--iexclude`/`--iinclude`): pattern and path are both lowercased.
    pub fn ignoring_case(pattern: &str) -> Result<Pattern> {
        Ok(Pattern {
            fold_case: true,
            ..Pattern::new(&pattern.to_lowercase())?
        })
    }

    /// Compiles `pattern`, rejecting malformed globs.
    pub fn new(pattern: &str) -> Result<Pattern> {
        let anchored = pattern.starts_with('/');
        let parts: Vec<String> = pattern
            .split('/')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        if parts.is_empty() {
            return Err(Error::InvalidPattern(pattern.to_string()));
        }
        for p in &parts {
            if glob_component(p.as_bytes(), b"").is_err() {
                return Err(Error::InvalidPattern(pattern.to_string()));
            }
        }
        Ok(Pattern {
            anchored,
            parts,
            fold_case: false,
        })
    }

    /// Whether `path` (absolute, `/`-separated) matches: `.0` the path
    /// itself (or one of its parents) matches, `.1` some child of the path
    /// may match.
    pub fn matches(&self, path: &[u8]) -> (bool, bool) {
        self.matches_candidate(&Candidate::new(path))
    }

    /// [`Pattern::matches`] of a path shared by several patterns, so its
    /// lowercase form is made once, not once per case-insensitive pattern.
    pub fn matches_candidate(&self, path: &Candidate<'_>) -> (bool, bool) {
        if self.fold_case {
            self.matches_exactly(path.lowercase())
        } else {
            self.matches_exactly(path.bytes)
        }
    }

    /// [`Pattern::matches`] without case folding.
    fn matches_exactly(&self, path: &[u8]) -> (bool, bool) {
        let comps: Vec<&[u8]> = path
            .split(|b| *b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        let pat: Vec<&[u8]> = self.parts.iter().map(|p| p.as_bytes()).collect();
        let starts: Vec<usize> = if self.anchored {
            vec![0]
        } else {
            (0..=comps.len()).collect()
        };
        let mut child = false;
        for s in starts {
            let (m, c) = match_from(&pat, &comps[s..]);
            if m {
                return (true, true);
            }
            child |= c;
        }
        (false, child)
    }
}

/// Matches pattern components against path components. Returns whether the
/// pattern is fully consumed by a prefix of the path, and whether the path
/// ran out while the pattern could still match (a child may match).
fn match_from(pat: &[&[u8]], path: &[&[u8]]) -> (bool, bool) {
    match pat.first() {
        None => (true, true),
        Some(p) if *p == b"**" => {
            // `**` can swallow any number of components, so a child may
            // always match below this path.
            let any = (0..=path.len()).any(|skip| match_from(&pat[1..], &path[skip..]).0);
            (any, true)
        }
        Some(p) => match path.first() {
            None => (false, true),
            Some(c) => {
                if glob_component(p, c).unwrap_or(false) {
                    match_from(&pat[1..], &path[1..])
                } else {
                    (false, false)
                }
            }
        },
    }
}

/// Go's `filepath.Match` for one component. `Err` for a malformed pattern.
fn glob_component(pat: &[u8], name: &[u8]) -> std::result::Result<bool, ()> {
    let (mut p, mut n) = (0, 0);
    let (mut star_p, mut star_n) = (None, 0);
    let mut ok = true;
    loop {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star_p = Some(p);
                    star_n = n;
                    p += 1;
                    continue;
                }
                b'?' if n < name.len() => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    let (matched, next) = class(pat, p, name.get(n).copied())?;
                    if matched && n < name.len() {
                        p = next;
                        n += 1;
                        continue;
                    }
                }
                b'\\' => {
                    let lit = *pat.get(p + 1).ok_or(())?;
                    if name.get(n) == Some(&lit) {
                        p += 2;
                        n += 1;
                        continue;
                    }
                }
                c if name.get(n) == Some(&c) && c != b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        } else if n == name.len() {
            return if ok { Ok(true) } else { Err(()) };
        }
        match star_p {
            Some(sp) if star_n < name.len() => {
                star_n += 1;
                p = sp + 1;
                n = star_n;
            }
            _ => {
                // Still validate the rest of the pattern for syntax errors.
                ok = validate(&pat[p.min(pat.len())..]).is_ok();
                return if ok { Ok(false) } else { Err(()) };
            }
        }
    }
}

fn validate(pat: &[u8]) -> std::result::Result<(), ()> {
    let mut i = 0;
    while i < pat.len() {
        match pat[i] {
            b'[' => i = class(pat, i, None)?.1,
            b'\\' => {
                pat.get(i + 1).ok_or(())?;
                i += 2
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Parses the character class at `pat[start] == b'['`; returns whether `c`
/// is in it and the index after the class.
fn class(pat: &[u8], start: usize, c: Option<u8>) -> std::result::Result<(bool, usize), ()> {
    let mut i = start + 1;
    let negate = matches!(pat.get(i), Some(b'^') | Some(b'!'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let mut lo = *pat.get(i).ok_or(())?;
        if lo == b']' && !first {
            i += 1;
            break;
        }
        first = false;
        if lo == b'\\' {
            i += 1;
            lo = *pat.get(i).ok_or(())?;
        }
        i += 1;
        let mut hi = lo;
        if pat.get(i) == Some(&b'-') && pat.get(i + 1).is_some_and(|b| *b != b']') {
            hi = pat[i + 1];
            if hi == b'\\' {
                hi = *pat.get(i + 2).ok_or(())?;
                i += 1;
            }
            i += 2;
        }
        if let Some(c) = c {
            if lo <= c && c <= hi {
                found = true;
            }
        }
    }
    Ok((found != negate, i))
}

/// A set of include and exclude patterns deciding what a command touches.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

/// Include and exclude patterns as given, before compiling: restic's
/// `--include`, `--exclude` and their case-insensitive `--i…` forms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatternLists {
    /// `--include`.
    pub include: Vec<String>,
    /// `--exclude`.
    pub exclude: Vec<String>,
    /// `--iinclude`.
    pub iinclude: Vec<String>,
    /// `--iexclude`.
    pub iexclude: Vec<String>,
}

/// Compiles `exact` patterns and `folded` ones (matching regardless of case).
pub fn compile_patterns(exact: &[String], folded: &[String]) -> Result<Vec<Pattern>> {
    exact
        .iter()
        .map(|p| Pattern::new(p))
        .chain(folded.iter().map(|p| Pattern::ignoring_case(p)))
        .collect()
}

impl Selection {
    /// Compiles case-sensitive include and exclude patterns.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Selection> {
        Selection::from_lists(&PatternLists {
            include: include.to_vec(),
            exclude: exclude.to_vec(),
            ..Default::default()
        })
    }

    /// Compiles every list.
    pub fn from_lists(lists: &PatternLists) -> Result<Selection> {
        Ok(Selection {
            include: compile_patterns(&lists.include, &lists.iinclude)?,
            exclude: compile_patterns(&lists.exclude, &lists.iexclude)?,
        })
    }

    /// For `path`: whether to select it, and whether to look below it.
    pub fn decide(&self, path: &[u8]) -> (bool, bool) {
        let candidate = Candidate::new(path);
        if self
            .exclude
            .iter()
            .any(|p| p.matches_candidate(&candidate).0)
        {
            return (false, false);
        }
        if self.include.is_empty() {
            return (true, true);
        }
        let mut child = false;
        for p in &self.include {
            let (m, c) = p.matches_candidate(&candidate);
            if m {
                return (true, true);
            }
            child |= c;
        }
        (false, child)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> (bool, bool) {
        Pattern::new(p).unwrap().matches(path.as_bytes())
    }

    #[test]
    fn case_insensitive_patterns_fold_both_sides() {
        let p = Pattern::ignoring_case("*.JPG").unwrap();
        assert!(p.matches(b"/Photos/a.jpg").0);
        assert!(p.matches(b"/photos/B.JpG").0);
        assert!(!Pattern::new("*.JPG").unwrap().matches(b"/a.jpg").0);
        let s = Selection::from_lists(&PatternLists {
            iinclude: vec!["/DOCS".into()],
            iexclude: vec!["*.TMP".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(s.decide(b"/docs/x.txt"), (true, true));
        assert_eq!(s.decide(b"/Docs/x.tmp"), (false, false));
        assert_eq!(s.decide(b"/other"), (false, false));
    }

    #[test]
    fn restic_like_matching() {
        assert!(m("*.txt", "/a/b/c.txt").0);
        assert!(m("/a/b", "/a/b/c.txt").0);
        assert!(!m("/b", "/a/b").0);
        assert!(m("b", "/a/b/c").0);
        assert_eq!(m("/a/b/*.txt", "/a"), (false, true));
        assert_eq!(m("/x/y", "/a"), (false, false));
        assert!(m("/a/**/z", "/a/b/c/z").0);
        assert!(m("/a/**/z", "/a/z").0);
        assert!(m("[a-c]x?", "/bxy").0);
        assert!(!m("[!a-c]x", "/bx").0);
        assert!(m("a\\*", "/a*").0);
        assert!(Pattern::new("[ab").is_err());
    }

    #[test]
    fn selection() {
        let s = Selection::new(&["/data/sub".into()], &["*.tmp".into()]).unwrap();
        assert_eq!(s.decide(b"/data"), (false, true));
        assert_eq!(s.decide(b"/data/sub"), (true, true));
        assert_eq!(s.decide(b"/data/sub/x"), (true, true));
        assert_eq!(s.decide(b"/data/sub/x.tmp"), (false, false));
        assert_eq!(s.decide(b"/other"), (false, false));
    }

    proptest::proptest! {
        #[test]
        fn patterns_never_panic(p in ".{0,12}", path in "[a-z/*?\\[\\]]{0,20}") {
            if let Ok(pat) = Pattern::new(&p) {
                let _ = pat.matches(path.as_bytes());
            }
        }
    }
}
