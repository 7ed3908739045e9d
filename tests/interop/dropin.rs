//! Drop-in for restic 0.19's command line (issue 13): commands and
//! output shapes that wrappers of today's restic call, pinned to the
//! shapes restic 0.19 documents and prints.

use std::process::Command;

use hbk_tests::drivers::{describe, hbk_binary, ok};
use hbk_tests::servers::{Remote, RestServer};
use serde_json::Value;

use crate::tempdir;

fn hbk_plain(args: &[&str]) -> std::process::Output {
    Command::new(hbk_binary())
        .args(args)
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("HBK_REPOSITORY")
        .output()
        .unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `version`: restic's line (`restic X.Y.Z compiled with … on OS/ARCH`)
/// with hbk's version inside, and the JSON message of 0.19's
/// `version --json` (one line; `hbk_version` added).
#[test]
fn version_prints_restics_shapes() {
    let text = stdout(&ok(hbk_plain(&["version"])));
    let line = text.trim_end();
    assert!(!line.contains('\n'), "{text}");
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words[0], "restic");
    let number: Vec<&str> = words[1].split('.').collect();
    assert_eq!(number.len(), 3, "{line}");
    assert!(number.iter().all(|n| n.parse::<u32>().is_ok()), "{line}");
    assert!(line.contains(" compiled with "), "{line}");
    assert!(
        line.ends_with("linux/amd64") || line.contains(" on "),
        "{line}"
    );

    let json = stdout(&ok(hbk_plain(&["version", "--json"])));
    assert_eq!(json.lines().count(), 1, "{json}");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["message_type"], "version");
    assert_eq!(v["version"], words[1]);
    for field in ["go_version", "go_os", "go_arch", "hbk_version"] {
        assert!(
            v[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}: {v}"
        );
    }
    assert_eq!(
        format!(
            "{}/{}",
            v["go_os"].as_str().unwrap(),
            v["go_arch"].as_str().unwrap()
        ),
        *words.last().unwrap()
    );
}

/// `options`: every extended option `-o` accepts, each of them accepted.
#[test]
fn options_lists_what_dash_o_accepts() {
    let text = stdout(&ok(hbk_plain(&["options"])));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("All Extended Options:"));
    let keys: Vec<&str> = lines
        .map(|l| {
            assert!(l.starts_with("  "), "{l:?}");
            l.split_whitespace().next().unwrap()
        })
        .collect();
    assert!(keys.contains(&"s3.region") && keys.contains(&"rest.connections"));
    let dir = tempdir();
    let repo = hbk_tests::drivers::Repo::new(dir.path());
    ok(hbk_tests::drivers::hbk(&repo, &["init"]));
    for key in keys {
        let value = if key.ends_with("lookup") { "path" } else { "2" };
        let opt = format!("{key}={value}");
        ok(hbk_tests::drivers::hbk(&repo, &["-o", &opt, "snapshots"]));
    }
    let out = hbk_tests::drivers::hbk(&repo, &["-o", "s3.regoin=x", "snapshots"]);
    assert!(!out.status.success(), "{}", describe(&out));
}

/// `cache`: lists the cache a remote repository left (its id's first
/// ten digits, "N days ago", size), `--cleanup --max-age 0` removes it,
/// and with `--no-cache` it refuses, as restic does.
#[test]
fn cache_lists_and_cleans_up() {
    let rest = RestServer::start();
    let remote = Remote::new(rest.url(), rest.env());
    let cache = tempdir();
    let cache_dir = cache.path().to_str().unwrap();
    let run = |args: &[&str]| {
        remote
            .hbk_command_cached_in(cache.path(), args)
            .output()
            .unwrap()
    };
    ok(run(&["init"]));
    ok(run(&["snapshots"]));
    ok(run(&["check", "--with-cache", "--check-unused"]));
    let id = {
        let cat = stdout(&ok(run(&["cat", "config"])));
        let v: Value = serde_json::from_str(&cat).unwrap();
        v["id"].as_str().unwrap().to_string()
    };

    let listing = stdout(&ok(hbk_plain(&["--cache-dir", cache_dir, "cache"])));
    let lines: Vec<&str> = listing.lines().collect();
    assert!(
        lines[0].starts_with("Repo ID") && lines[0].ends_with("Size"),
        "{listing}"
    );
    let row = lines
        .iter()
        .find(|l| l.starts_with(&id[..10]))
        .unwrap_or_else(|| panic!("{id} not listed: {listing}"));
    assert!(row.contains("0 days ago"), "{row}");
    assert!(row.trim_end().ends_with("B"), "{row}");
    assert_eq!(
        lines.last().unwrap(),
        &format!("1 cache dirs in {cache_dir}")
    );
    let no_size = stdout(&ok(hbk_plain(&[
        "--cache-dir",
        cache_dir,
        "cache",
        "--no-size",
    ])));
    assert!(
        no_size.lines().next().unwrap().trim_end().ends_with("Old"),
        "{no_size}"
    );

    let kept = stdout(&ok(hbk_plain(&[
        "--cache-dir",
        cache_dir,
        "cache",
        "--cleanup",
    ])));
    assert_eq!(kept.trim_end(), "no old cache dirs found");
    // The global --cleanup-cache removes, after the command, what was
    // unused for 30 days (opening a remote repository's cache does so
    // too); the cache in use stays.
    let other = "ab".repeat(32);
    hbk_tests::copy_dir(&cache.path().join(&id), &cache.path().join(&other));
    let forty_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(cache.path().join(&other).join("last-used"))
        .unwrap()
        .set_modified(forty_days_ago)
        .unwrap();
    let out = stdout(&ok(hbk_plain(&[
        "--cache-dir",
        cache_dir,
        "--cleanup-cache",
        "version",
    ])));
    assert!(out.contains("remove 1 old cache directories"), "{out}");
    assert!(!cache.path().join(&other).exists());
    assert!(cache.path().join(&id).exists());
    // Make the cache look two days unused, then clean up what is older than a day.
    let stamp = cache.path().join(&id).join("last-used");
    let two_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&stamp)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    let cleaned = stdout(&ok(hbk_plain(&[
        "--cache-dir",
        cache_dir,
        "cache",
        "--cleanup",
        "--max-age",
        "1",
    ])));
    assert_eq!(cleaned.trim_end(), "remove 1 old cache directories");
    assert!(!cache.path().join(&id).exists());
    let empty = stdout(&ok(hbk_plain(&["--cache-dir", cache_dir, "cache"])));
    assert_eq!(
        empty.trim_end(),
        format!("no cache dirs found, basedir is {cache_dir}")
    );

    let refused = hbk_plain(&["--no-cache", "cache"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("the cache is disabled"),
        "{}",
        describe(&refused)
    );
}

/// An unknown flag or command is a usage error with exit code 1, as in
/// restic (clap's default would be 2); `--help` succeeds.
#[test]
fn usage_errors_exit_1() {
    for args in [&["snapshots", "--no-such-flag"][..], &["no-such-command"]] {
        let out = hbk_plain(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    ok(hbk_plain(&["snapshots", "--help"]));
}

/// Read commands (check included) take restic's shared lock (an
/// exclusive lock held elsewhere stops them, exit 11) unless `--no-lock`;
/// prune and forget accept `--no-lock` only with `--dry-run`.
#[test]
fn read_commands_lock_unless_no_lock() {
    use hbk_tests::drivers::{hbk, Repo};
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "locked").unwrap();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    ok(hbk(&repo, &["backup", src.to_str().unwrap()]));
    let target = dir.path().join("t");
    let t = target.to_str().unwrap();
    hbk_tests::locks::plant_exclusive_lock(&repo);
    for args in [
        &["snapshots"][..],
        &["ls", "latest"],
        &["restore", "latest", "--target", t],
        &["check"],
        &["key", "list"],
    ] {
        let out = hbk(&repo, args);
        assert_eq!(out.status.code(), Some(11), "{args:?}: {}", describe(&out));
        let mut unlocked = vec!["--no-lock"];
        unlocked.extend(args);
        ok(hbk(&repo, &unlocked));
    }
    assert!(target.exists());
    for args in [&["prune"][..], &["forget", "--keep-last", "1"]] {
        let mut all = vec!["--no-lock"];
        all.extend(args);
        let out = hbk(&repo, &all);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        assert!(describe(&out).contains("only applicable in combination with --dry-run"));
        all.push("--dry-run");
        ok(hbk(&repo, &all));
    }
}

/// Under `--json`, a fatal error is restic 0.17+'s `exit_error` message
/// on stderr, with the exit code in it.
#[test]
fn fatal_errors_are_json_under_json() {
    let dir = tempdir();
    let missing = dir.path().join("no-repo");
    let out = hbk_plain(&[
        "--json",
        "-r",
        missing.to_str().unwrap(),
        "--insecure-no-password",
        "snapshots",
    ]);
    assert_eq!(out.status.code(), Some(10), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let line: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(line["message_type"], "exit_error", "{err}");
    assert_eq!(line["code"], 10, "{err}");
    assert!(
        line["message"].as_str().unwrap().starts_with("Fatal: "),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// Whether `help` offers the long flag `--flag` (not merely a longer
/// flag starting with it).
fn offers(help: &str, flag: &str) -> bool {
    let needle = format!("--{flag}");
    help.match_indices(&needle).any(|(at, _)| {
        !help[at + needle.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// The flags named in a Markdown cell: every `` `--name` ``.
fn flags_in(cell: &str) -> Vec<String> {
    cell.split('`')
        .filter_map(|w| w.strip_prefix("--"))
        .map(str::to_string)
        .collect()
}

/// docs/compatibility.md against the binary: a command marked "no" does
/// not exist, the others do; every flag listed as lacking (per command,
/// and the global ones not yet supported) is refused; every test named
/// exists. A flag or command added without updating the page fails here.
#[test]
fn compatibility_matrix_matches_the_cli() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("../docs/compatibility.md")).unwrap();
    let mut rows = 0;
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        assert_eq!(cells.len(), 4, "{line}");
        let command = cells[0].trim_start_matches("| ").trim_matches('`');
        let status = cells[1];
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let out = hbk_plain(&args);
        if status == "no" {
            assert!(!out.status.success(), "`{command}` exists: update the page");
            continue;
        }
        let help = stdout(&ok(out));
        let lacking = flags_in(cells[2]);
        assert_eq!(status == "yes", lacking.is_empty(), "{line}");
        for flag in lacking {
            assert!(
                !offers(&help, &flag),
                "`{command}` has --{flag} now: update the page"
            );
        }
        for test in cells[3].trim_end_matches(" |").split(", ") {
            let (module, name) = test.split_once("::").unwrap_or_else(|| panic!("{line}"));
            let source = std::fs::read_to_string(root.join(format!("interop/{module}.rs")))
                .unwrap_or_else(|_| panic!("{line}: no module {module}"));
            if name != "*" {
                assert!(
                    source.contains(&format!("fn {name}(")),
                    "{line}: no test {test}"
                );
            }
        }
        rows += 1;
    }
    assert!(rows >= 25, "only {rows} commands found in the page");
    // Global flags: the supported ones are offered.
    let help = stdout(&ok(hbk_plain(&["snapshots", "--help"])));
    let supported = doc
        .lines()
        .find(|l| l.starts_with("Supported: `--"))
        .unwrap();
    let offered = flags_in(supported);
    assert!(offered.len() >= 20, "{offered:?}");
    for flag in offered {
        assert!(
            offers(&help, &flag),
            "--{flag} is listed as supported, hbk lacks it"
        );
    }
}

/// Every path below `root`, relative, sorted.
fn paths_below(root: &std::path::Path) -> Vec<String> {
    fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(&p, root, out);
            }
        }
    }
    let mut out = Vec::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out.sort();
    out
}

/// `restore --iinclude/--iexclude` select what restic's select, and the
/// `--include-file`/`--exclude-file`/`--iinclude-file`/`--iexclude-file`
/// forms select what the same patterns given as flags do.
#[test]
fn restore_selects_case_insensitively_and_from_files_as_restic() {
    use hbk_tests::drivers::{hbk, restic, Repo};
    let dir = tempdir();
    let src = dir.path().join("src");
    hbk_tests::tree::write_files(
        &src,
        &[
            ("Docs/Report.PDF", "a"),
            ("Docs/notes.txt", "b"),
            ("docs2/x.pdf", "c"),
            ("Music/a.MP3", "d"),
            ("tmp/A.Tmp", "e"),
            ("keep.txt", "f"),
        ],
    );
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    ok(hbk(&repo, &["backup", src.to_str().unwrap()]));
    let restore_with = |tool: &str, name: &str, flags: &[&str]| {
        let target = dir.path().join(format!("{tool}-{name}"));
        let mut args = vec!["restore", "latest", "--target", target.to_str().unwrap()];
        args.extend(flags);
        ok(match tool {
            "restic" => restic(&repo, &args),
            _ => hbk(&repo, &args),
        });
        paths_below(&target)
    };
    let cases: [(&str, &[&str]); 3] = [
        ("iinclude", &["--iinclude", "*.pdf", "--iinclude", "*.mp3"]),
        ("iexclude", &["--iexclude", "DOCS", "--iexclude", "*.tmp"]),
        ("mixed", &["--iinclude", "*/DOCS*", "--include", "*.MP3"]),
    ];
    for (name, flags) in cases {
        let ours = restore_with("hbk", name, flags);
        assert!(!ours.is_empty(), "{name}: nothing restored");
        assert_eq!(ours, restore_with("restic", name, flags), "{name}");
    }

    let file = |name: &str, lines: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, lines).unwrap();
        p.to_str().unwrap().to_string()
    };
    let inc = file("inc", "# pdfs\n*.pdf\n\n  *.PDF  \n");
    let iinc = file("iinc", "*.MP3\n");
    let exc = file("exc", "*/docs2\n");
    let iexc = file("iexc", "*.TMP\n");
    let inc_files = restore_with(
        "hbk",
        "inc-files",
        &["--include-file", &inc, "--iinclude-file", &iinc],
    );
    let inc_flags = restore_with(
        "hbk",
        "inc-flags",
        &[
            "--include",
            "*.pdf",
            "--include",
            "*.PDF",
            "--iinclude",
            "*.MP3",
        ],
    );
    assert!(
        inc_files.iter().any(|p| p.ends_with("Report.PDF")),
        "{inc_files:?}"
    );
    assert!(
        inc_files.iter().any(|p| p.ends_with("a.MP3")),
        "{inc_files:?}"
    );
    assert_eq!(inc_files, inc_flags);
    let exc_files = restore_with(
        "hbk",
        "exc-files",
        &["--exclude-file", &exc, "--iexclude-file", &iexc],
    );
    let exc_flags = restore_with(
        "hbk",
        "exc-flags",
        &["--exclude", "*/docs2", "--iexclude", "*.TMP"],
    );
    assert!(
        exc_files
            .iter()
            .all(|p| !p.contains("docs2") && !p.ends_with("A.Tmp")),
        "{exc_files:?}"
    );
    assert!(
        exc_files.iter().any(|p| p.ends_with("keep.txt")),
        "{exc_files:?}"
    );
    assert_eq!(exc_files, exc_flags);

    // Both kinds at once, or a dry run with --verify: refused, as restic
    // refuses them.
    for flags in [
        &["--include", "*.pdf", "--iexclude", "*.TMP"][..],
        &["--dry-run", "--verify"],
    ] {
        let target = dir.path().join("refused");
        let mut args = vec!["restore", "latest", "--target", target.to_str().unwrap()];
        args.extend(flags);
        let out = hbk(&repo, &args);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("mutually exclusive"),
            "{}",
            describe(&out)
        );
    }
}

/// `RESTIC_HOST`, `RESTIC_COMPRESSION` (with 0.19's `fastest` and
/// `better`) and `RESTIC_PACK_SIZE` act as their flags; restic checks
/// every byte written with each compression mode.
#[test]
fn restic_environment_and_compression_modes() {
    use hbk_tests::drivers::{hbk_command, restic, Repo};
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let text: String = (0..20_000)
        .map(|i| format!("line {i} of some text\n"))
        .collect();
    std::fs::write(src.join("text"), &text).unwrap();
    let repo = Repo::new(dir.path());
    ok(hbk_tests::drivers::hbk(&repo, &["init"]));
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let mut cmd = hbk_command(&repo, args);
        cmd.env_remove("HBK_HOST").env_remove("RESTIC_HOST");
        cmd.envs(env.iter().copied());
        cmd.output().unwrap()
    };
    let mut added = Vec::new();
    for mode in ["off", "fastest", "auto", "better", "max"] {
        std::fs::write(src.join("mode"), mode).unwrap();
        let out = ok(run(
            &[("RESTIC_COMPRESSION", mode), ("RESTIC_HOST", "envhost")],
            &["backup", "--force", "--json", src.to_str().unwrap()],
        ));
        let summary = hbk_tests::drivers::json_summary(&out);
        added.push((mode, summary["data_added_packed"].as_u64().unwrap()));
    }
    // Compressed modes store the text in far less than it is; off does not.
    let size = |m: &str| added.iter().find(|(n, _)| *n == m).unwrap().1;
    assert!(size("off") > text.len() as u64, "{added:?}");
    for m in ["fastest", "auto", "better", "max"] {
        assert!(size(m) * 4 < text.len() as u64, "{added:?}");
    }
    let bad = run(
        &[("RESTIC_COMPRESSION", "extreme")],
        &["backup", src.to_str().unwrap()],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", describe(&bad));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("fastest, better"));
    let bad = run(
        &[("RESTIC_PACK_SIZE", "lots")],
        &["backup", src.to_str().unwrap()],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", describe(&bad));
    ok(run(
        &[("RESTIC_PACK_SIZE", "4")],
        &["backup", src.to_str().unwrap()],
    ));

    // RESTIC_HOST named the snapshots and filters the listing.
    let count = |env: &[(&str, &str)]| {
        let out = ok(run(env, &["snapshots", "--json"]));
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&[("RESTIC_HOST", "envhost")]), 5);
    assert_eq!(count(&[("RESTIC_HOST", "elsewhere")]), 0);
    assert_eq!(count(&[]), 6);
    ok(restic(&repo, &["check", "--read-data"]));
}

/// `--retry-lock`: a backup facing another host's exclusive lock waits
/// for it to go (here: removed after a second) and completes; with a
/// short wait it gives up with exit 11 after about that long.
#[test]
fn retry_lock_waits_for_a_lock_to_go() {
    use hbk_tests::drivers::{hbk, restic, Repo};
    use std::time::{Duration, Instant};
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    hbk_tests::locks::plant_exclusive_lock(&repo);

    let started = Instant::now();
    let out = hbk(
        &repo,
        &["--retry-lock", "2s", "backup", src.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(11), "{}", describe(&out));
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "gave up after {took:?}");
    assert!(took < Duration::from_secs(30), "waited {took:?}");

    let out = std::thread::scope(|s| {
        let backup = s.spawn(|| {
            hbk(
                &repo,
                &["--retry-lock", "1m", "backup", src.to_str().unwrap()],
            )
        });
        std::thread::sleep(Duration::from_secs(1));
        ok(restic(&repo, &["unlock", "--remove-all"]));
        backup.join().unwrap()
    });
    ok(out);
    ok(restic(&repo, &["check"]));
}

/// `snapshots --group-by` (JSON: `group_key` and `snapshots` per group,
/// keys not grouped by `""`/`null`) gives restic's groups; `--latest`
/// counts per group; `--compact` drops the paths column.
#[test]
fn snapshots_group_by_and_compact_as_restic() {
    use hbk_tests::drivers::{hbk, restic, Repo};
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("x")).unwrap();
    std::fs::write(src.join("x/f"), "x").unwrap();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    let x = src.join("x");
    for (host, path, tag) in [
        ("alpha", &src, "daily"),
        ("alpha", &src, "daily"),
        ("alpha", &x, "weekly"),
        ("beta", &src, "daily"),
    ] {
        ok(hbk(
            &repo,
            &[
                "backup",
                "--host",
                host,
                "--tag",
                tag,
                path.to_str().unwrap(),
            ],
        ));
    }
    let json =
        |out: std::process::Output| -> Value { serde_json::from_slice(&ok(out).stdout).unwrap() };
    // Groups as (key, snapshot ids), sorted, for comparing the two tools.
    let groups = |v: &Value| {
        let mut g: Vec<(String, Vec<String>)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|grp| {
                let mut ids: Vec<String> = grp["snapshots"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["id"].as_str().unwrap().to_string())
                    .collect();
                ids.sort();
                (grp["group_key"].to_string(), ids)
            })
            .collect();
        g.sort();
        g
    };
    for by in ["host", "paths", "tags", "host,paths"] {
        let args = ["snapshots", "--json", "--group-by", by];
        let ours = json(hbk(&repo, &args));
        let theirs = json(restic(&repo, &args));
        assert_eq!(groups(&ours), groups(&theirs), "--group-by {by}");
    }
    let host = json(hbk(&repo, &["snapshots", "--json", "--group-by", "host"]));
    let alpha = host
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group_key"]["hostname"] == "alpha")
        .unwrap();
    assert_eq!(alpha["group_key"]["paths"], Value::Null);
    assert_eq!(alpha["group_key"]["tags"], Value::Null);
    assert_eq!(alpha["snapshots"].as_array().unwrap().len(), 3);
    let latest = json(hbk(
        &repo,
        &[
            "snapshots",
            "--json",
            "--group-by",
            "host,paths",
            "--latest",
            "1",
        ],
    ));
    let sizes: Vec<usize> = latest
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["snapshots"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [1, 1, 1], "{latest}");
    // --last is restic's old spelling of --latest 1.
    let last = json(hbk(
        &repo,
        &["snapshots", "--json", "--group-by", "host,paths", "--last"],
    ));
    assert_eq!(last, latest);
    // Ungrouped JSON stays a flat array.
    assert_eq!(
        json(hbk(&repo, &["snapshots", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let text = stdout(&ok(hbk(&repo, &["snapshots", "--group-by", "host"])));
    assert!(text.contains("snapshots for (host [alpha]):"), "{text}");
    assert!(text.contains("snapshots for (host [beta]):"), "{text}");
    let compact = stdout(&ok(hbk(&repo, &["snapshots", "--compact"])));
    let header = compact.lines().next().unwrap();
    assert!(
        header.starts_with("ID") && !header.contains("Paths"),
        "{compact}"
    );
    assert!(stdout(&ok(hbk(&repo, &["snapshots"])))
        .lines()
        .next()
        .unwrap()
        .contains("Paths"));
}

/// `ls --sort size|extension|time`, `--reverse` and `--human-readable`
/// (restic 0.17+).
#[test]
fn ls_sorts_reverses_and_prints_human_sizes() {
    use hbk_tests::drivers::{hbk, Repo};
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for (name, size, age) in [("b.txt", 3000, 30), ("a.tar", 10, 10), ("c.gz", 200, 20)] {
        let p = src.join(name);
        std::fs::write(&p, vec![b'x'; size]).unwrap();
        let t = filetime::FileTime::from_unix_time(1_700_000_000 - age * 86_400, 0);
        filetime::set_file_mtime(&p, t).unwrap();
    }
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    ok(hbk(&repo, &["backup", src.to_str().unwrap()]));
    let s = src.to_str().unwrap();
    let names = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["ls", "latest", s];
        args.extend(extra);
        stdout(&ok(hbk(&repo, &args)))
            .lines()
            .skip(1)
            .filter_map(|l| l.rsplit('/').next().map(str::to_string))
            .filter(|n| n.contains('.'))
            .collect()
    };
    assert_eq!(names(&[]), ["a.tar", "b.txt", "c.gz"]);
    assert_eq!(names(&["--reverse"]), ["c.gz", "b.txt", "a.tar"]);
    assert_eq!(names(&["--sort", "size"]), ["a.tar", "c.gz", "b.txt"]);
    assert_eq!(names(&["-s", "extension"]), ["c.gz", "a.tar", "b.txt"]);
    assert_eq!(names(&["--sort", "time"]), ["b.txt", "c.gz", "a.tar"]);
    assert_eq!(
        names(&["--sort", "mtime", "--reverse"]),
        ["a.tar", "c.gz", "b.txt"]
    );
    let long = stdout(&ok(hbk(
        &repo,
        &["ls", "latest", s, "-l", "--human-readable"],
    )));
    let line = long.lines().find(|l| l.ends_with("/b.txt")).unwrap();
    assert!(line.contains("2.930 KiB"), "{line}");
    let bad = hbk(&repo, &["ls", "latest", "--sort", "colour"]);
    assert_eq!(bad.status.code(), Some(1), "{}", describe(&bad));
}

/// `backup --skip-if-unchanged` writes no snapshot when the tree equals
/// the parent's; the JSON summary has 0.17+'s `backup_start` and
/// `backup_end`, and the snapshot stores its statistics (`summary`),
/// which restic 0.14 reads past.
#[test]
fn backup_skips_unchanged_and_records_its_summary() {
    use hbk_tests::drivers::{hbk, restic, Repo};
    let dir = tempdir();
    // The snapshot's tree holds the source's parent directories too:
    // keep the source out of /tmp, whose time stamps other tests change.
    let quiet = tempfile::Builder::new()
        .prefix("hbk-skip-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let src = quiet.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "one").unwrap();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    let s = src.to_str().unwrap();
    let first = hbk_tests::drivers::json_summary(&ok(hbk(&repo, &["backup", "--json", s])));
    let start = first["backup_start"].as_str().unwrap();
    let end = first["backup_end"].as_str().unwrap();
    assert!(start.len() >= 20 && end.len() >= 20, "{first}");
    assert!(start <= end || start[..19] <= end[..19], "{first}");
    let id = first["snapshot_id"].as_str().unwrap().to_string();
    assert_eq!(first["dry_run"], false, "{first}");
    let stored: Value =
        serde_json::from_slice(&ok(hbk(&repo, &["cat", "snapshot", &id])).stdout).unwrap();
    assert_eq!(stored["summary"]["total_files_processed"], 1, "{stored}");
    assert_eq!(stored["summary"]["files_new"], 1, "{stored}");
    assert!(stored["summary"]["backup_start"].is_string(), "{stored}");

    let again = hbk_tests::drivers::json_summary(&ok(hbk(
        &repo,
        &["backup", "--json", "--skip-if-unchanged", s],
    )));
    assert!(again.get("snapshot_id").is_none(), "{again}");
    let text = stdout(&ok(hbk(&repo, &["backup", "--skip-if-unchanged", s])));
    assert!(text.contains("skipped creating snapshot"), "{text}");
    std::fs::write(src.join("f"), "two").unwrap();
    let changed = hbk_tests::drivers::json_summary(&ok(hbk(
        &repo,
        &["backup", "--json", "--skip-if-unchanged", s],
    )));
    assert!(changed["snapshot_id"].is_string(), "{changed}");
    let listed: Value =
        serde_json::from_slice(&ok(restic(&repo, &["snapshots", "--json"])).stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    ok(restic(&repo, &["check", "--read-data"]));
}

/// `generate`: the bash completion script registers with `complete` and
/// completes commands, subcommands and flags; every man page renders
/// with `man -l`; completions go to stdout for one shell at a time only.
#[test]
fn generate_writes_working_completions_and_man_pages() {
    let dir = tempdir();
    let bash = dir.path().join("hbk.bash");
    let man = dir.path().join("man");
    let zsh = dir.path().join("_hbk");
    ok(hbk_plain(&[
        "generate",
        "--bash-completion",
        bash.to_str().unwrap(),
        "--zsh-completion",
        zsh.to_str().unwrap(),
        "--man",
        man.to_str().unwrap(),
    ]));
    let script = format!(
        r#"source {}
complete -p hbk
reply() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _hbk hbk "${{@: -1}}" "${{@: -2:1}}"; echo "${{COMPREPLY[*]}}"; }}
reply hbk rewr
reply hbk repair pa
reply hbk rewrite --new-h"#,
        bash.display()
    );
    let out = ok(Command::new("bash").arg("-c").arg(script).output().unwrap());
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert!(lines[0].contains("-F _hbk hbk"), "{lines:?}");
    assert_eq!(lines[1..], ["rewrite", "packs", "--new-host"], "{lines:?}");
    assert!(std::fs::read_to_string(&zsh)
        .unwrap()
        .contains("#compdef hbk"));

    let pages: Vec<_> = std::fs::read_dir(&man).unwrap().flatten().collect();
    assert!(pages.len() > 30, "{} pages", pages.len());
    for page in pages {
        let out = Command::new("man")
            .arg("-l")
            .arg(page.path())
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        let text = stdout(&out);
        assert!(
            out.status.success() && text.contains("NAME"),
            "{}",
            describe(&out)
        );
    }
    let out = hbk_plain(&[
        "generate",
        "--bash-completion",
        "-",
        "--fish-completion",
        "-",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let out = ok(hbk_plain(&["generate", "--fish-completion", "-"]));
    assert!(
        stdout(&out).contains("complete -c hbk"),
        "{}",
        describe(&out)
    );
}

/// `features`: restic 0.19's flags with their state in hbk;
/// `RESTIC_FEATURES` naming an unknown flag is an error, a known one a
/// warning.
#[test]
fn features_lists_flags_and_checks_restic_features() {
    let out = ok(hbk_plain(&["features"]));
    let text = stdout(&out);
    assert!(text.starts_with("All Feature Flags:\nName"), "{text}");
    assert!(text.contains("safe-forget-keep-tags"), "{text}");
    let run = |value: &str| {
        Command::new(hbk_binary())
            .args(["features"])
            .env("RESTIC_FEATURES", value)
            .output()
            .unwrap()
    };
    let out = run("no-such-flag");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        describe(&out).contains("unknown feature flag"),
        "{}",
        describe(&out)
    );
    let out = ok(run("s3-restore=false"));
    assert!(
        describe(&out).contains("Warning: feature flag \"s3-restore\""),
        "{}",
        describe(&out)
    );
}

/// `restore --overwrite` and `--delete` (restic 0.17+) into a target that
/// already holds an older, changed copy with extra files; the `--json`
/// summary has 0.19's shape (zero counts left out) and the text summary
/// 0.19's words.
#[test]
fn restore_overwrites_and_deletes_as_restic_0_19() {
    use hbk_tests::compare::{compare_trees, CompareOptions};
    use hbk_tests::drivers::{hbk, Repo};
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    for (name, body) in [("a", "alpha"), ("b", "beta"), ("sub/c", "gamma")] {
        std::fs::write(src.join(name), body).unwrap();
    }
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    ok(hbk(&repo, &["backup", src.to_str().unwrap()]));
    let t = dir.path().join("t");
    let ts = t.to_str().unwrap();
    ok(hbk(&repo, &["restore", "latest", "--target", ts]));
    let back = crate::restored(&t, &src);
    std::fs::write(back.join("a"), "changed here, and newer").unwrap();
    std::fs::write(back.join("extra"), "not in the snapshot").unwrap();
    std::fs::create_dir_all(back.join("sub/extra-dir")).unwrap();
    std::fs::write(back.join("sub/extra-dir/x"), "x").unwrap();

    let summary = |args: &[&str]| -> Value {
        let mut all = vec!["--json", "restore", "latest", "--target", ts];
        all.extend(args);
        let out = ok(hbk(&repo, &all));
        let text = stdout(&out);
        serde_json::from_str(text.lines().last().unwrap()).unwrap()
    };
    let never = summary(&["--overwrite", "never"]);
    assert_eq!(never["message_type"], "summary");
    assert_eq!(never["files_skipped"], 3, "{never}");
    assert!(
        never.get("files_deleted").is_none(),
        "zero counts are left out: {never}"
    );
    assert_eq!(
        std::fs::read_to_string(back.join("a")).unwrap(),
        "changed here, and newer"
    );
    summary(&["--overwrite", "if-newer"]);
    assert_eq!(
        std::fs::read_to_string(back.join("a")).unwrap(),
        "changed here, and newer"
    );

    let out = ok(hbk(
        &repo,
        &[
            "restore",
            "latest",
            "--target",
            ts,
            "--delete",
            "--dry-run",
            "-vv",
        ],
    ));
    let text = stdout(&out);
    assert!(
        text.contains("deleted   ") && text.contains("extra-dir"),
        "{text}"
    );
    assert!(back.join("extra").exists(), "a dry run deleted");

    let out = ok(hbk(
        &repo,
        &["restore", "latest", "--target", ts, "--delete"],
    ));
    let text = stdout(&out);
    assert!(
        text.contains("Summary: Restored ") && text.contains("deleted 2 files/dirs"),
        "{text}"
    );
    let differs = compare_trees(&src, &back, CompareOptions::plain_files());
    assert!(differs.is_empty(), "{differs:?}");

    let out = hbk(&repo, &["restore", "latest", "--target", "/", "--delete"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let out = hbk(
        &repo,
        &[
            "restore",
            "latest",
            "--target",
            ts,
            "--overwrite",
            "sometimes",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

/// Writes a self-signed certificate for `names` as `stem.pem` (the
/// certificate), `stem-key.pem` (its key) and `stem-both.pem` (both, as
/// `--tls-client-cert` takes them); returns the certificate's path.
fn self_signed(dir: &std::path::Path, stem: &str, names: &[&str]) -> String {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = ck.cert.pem();
    let key = ck.signing_key.serialize_pem();
    std::fs::write(dir.join(format!("{stem}.pem")), &cert).unwrap();
    std::fs::write(dir.join(format!("{stem}-key.pem")), &key).unwrap();
    std::fs::write(dir.join(format!("{stem}-both.pem")), format!("{cert}{key}")).unwrap();
    dir.join(format!("{stem}.pem"))
        .to_str()
        .unwrap()
        .to_string()
}

/// `--cacert`, `--tls-client-cert` and `--insecure-tls` against an HTTPS
/// REST server that asks for a client certificate, and `--cacert` /
/// `--insecure-tls` against an HTTPS S3 server: an unknown server
/// certificate is refused unless trusted or the check is switched off.
#[test]
fn tls_flags_reach_rest_and_s3_servers() {
    use hbk_tests::servers::S3Server;
    let dir = tempdir();
    let d = dir.path();
    let server_cert = self_signed(d, "server", &["127.0.0.1", "localhost"]);
    let client_cert = self_signed(d, "client", &["hbk-client"]);
    let key = d.join("server-key.pem").to_str().unwrap().to_string();
    let client_both = d.join("client-both.pem").to_str().unwrap().to_string();
    let password = d.join("pw");
    std::fs::write(&password, "tls test").unwrap();
    let run = |location: &str, env: &[(String, String)], flags: &[&str], args: &[&str]| {
        let mut cmd = Command::new(hbk_binary());
        cmd.args([
            "-r",
            location,
            "--password-file",
            password.to_str().unwrap(),
        ])
        .args(flags)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("HBK_REPOSITORY")
        .args(["-o", "retry.max-attempts=1"]);
        cmd.output().unwrap()
    };
    let src = d.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "over TLS").unwrap();
    let src = src.to_str().unwrap();

    let rest = RestServer::start_args(
        None,
        [
            "--cert",
            &server_cert,
            "--key",
            &key,
            "--client-ca",
            &client_cert,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    );
    let url = format!("rest:https://127.0.0.1:{}/repo/", rest.port());
    let untrusted = run(&url, &[], &[], &["init"]);
    assert_eq!(untrusted.status.code(), Some(1), "{}", describe(&untrusted));
    let no_client = run(&url, &[], &["--cacert", &server_cert], &["init"]);
    assert_ne!(no_client.status.code(), Some(0), "{}", describe(&no_client));
    let trusted = [
        "--cacert",
        server_cert.as_str(),
        "--tls-client-cert",
        client_both.as_str(),
    ];
    ok(run(&url, &[], &trusted, &["init"]));
    ok(run(&url, &[], &trusted, &["backup", src]));
    let insecure = ["--insecure-tls", "--tls-client-cert", client_both.as_str()];
    let out = ok(run(&url, &[], &insecure, &["snapshots", "--json"]));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // The variables work as the flags do.
    let env = [
        ("RESTIC_CACERT".to_string(), server_cert.clone()),
        ("RESTIC_TLS_CLIENT_CERT".to_string(), client_both.clone()),
    ];
    ok(run(&url, &env, &[], &["check"]));

    let s3 = S3Server::start_on_disk_with(
        ["--cert", &server_cert, "--key", &key]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    );
    let url = format!("s3:https://127.0.0.1:{}/{}", s3.port(), s3.new_bucket());
    let env = s3.env();
    let untrusted = run(&url, &env, &[], &["init"]);
    assert_eq!(untrusted.status.code(), Some(1), "{}", describe(&untrusted));
    ok(run(&url, &env, &["--cacert", &server_cert], &["init"]));
    ok(run(&url, &env, &["--insecure-tls"], &["backup", src]));
    let refused = run(
        &url,
        &env,
        &["--tls-client-cert", &client_both],
        &["snapshots"],
    );
    assert!(
        describe(&refused).contains("REST repositories only"),
        "{}",
        describe(&refused)
    );
}

/// `--http-user-agent` is what the server sees.
#[test]
fn http_user_agent_is_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut conn, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        String::from_utf8_lossy(&head).into_owned()
    });
    let out = Command::new(hbk_binary())
        .args([
            "-r",
            &format!("rest:http://127.0.0.1:{port}/repo/"),
            "--insecure-no-password",
        ])
        .args([
            "--http-user-agent",
            "hbk-test-agent/1.0",
            "-o",
            "retry.max-attempts=1",
            "snapshots",
        ])
        .env_remove("RESTIC_REPOSITORY")
        .output()
        .unwrap();
    let head = seen.join().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("user-agent: hbk-test-agent/1.0"),
        "{head}\n{}",
        describe(&out)
    );
}

/// `ls --ncdu` (restic 0.17+): the real ncdu imports the export (and
/// exports it again, with the same names and sizes); `--json` with it is
/// refused.
#[test]
fn ls_ncdu_export_loads_in_ncdu() {
    use hbk_tests::drivers::{hbk, Repo};
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("deep/er")).unwrap();
    std::fs::write(src.join("deep/er/big"), vec![7u8; 100_000]).unwrap();
    std::fs::write(src.join("small"), "tiny").unwrap();
    std::os::unix::fs::symlink("small", src.join("link")).unwrap();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    ok(hbk(&repo, &["backup", src.to_str().unwrap()]));
    let export = ok(hbk(&repo, &["ls", "--ncdu", "latest"]));
    let file = dir.path().join("export.json");
    std::fs::write(&file, &export.stdout).unwrap();
    let again = dir.path().join("again.json");
    let out = Command::new("ncdu")
        .arg("-f")
        .arg(&file)
        .arg("-o")
        .arg(&again)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let reread: Value = serde_json::from_slice(&std::fs::read(&again).unwrap()).unwrap();
    let text = reread.to_string();
    assert!(
        text.contains("\"name\":\"big\"") && text.contains("\"asize\":100000"),
        "{text}"
    );
    assert!(text.contains("\"name\":\"link\""), "{text}");
    let both = hbk(&repo, &["--json", "ls", "--ncdu", "latest"]);
    assert_eq!(both.status.code(), Some(1), "{}", describe(&both));
}

/// The `--json` messages restic 0.19 documents for `ls`, `tag` and
/// `prune` (doc/075_scripting.rst): their message types and fields, and
/// counts that add up.
#[test]
fn json_messages_of_ls_tag_and_prune_follow_restic_0_19() {
    use hbk_tests::drivers::{hbk, restic, Repo};
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    for round in 0..3 {
        std::fs::write(
            src.join(format!("f{round}")),
            format!("round {round} ").repeat(5000),
        )
        .unwrap();
        ok(hbk(&repo, &["backup", src.to_str().unwrap()]));
    }
    let lines = |out: std::process::Output| -> Vec<Value> {
        stdout(&ok(out))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let ls = lines(hbk(&repo, &["--json", "ls", "latest"]));
    assert_eq!(ls[0]["message_type"], "snapshot");
    assert_eq!(ls[0]["struct_type"], "snapshot");
    for node in &ls[1..] {
        assert_eq!(node["message_type"], "node", "{node}");
        assert!(node["inode"].as_u64().unwrap() > 0, "{node}");
    }

    let tagged = lines(hbk(&repo, &["--json", "tag", "--add", "x"]));
    assert_eq!(tagged.len(), 4, "{tagged:?}");
    for m in &tagged[..3] {
        assert_eq!(m["message_type"], "changed");
        assert_ne!(m["old_snapshot_id"], m["new_snapshot_id"]);
    }
    assert_eq!(
        tagged[3],
        serde_json::json!({"message_type": "summary", "changed_snapshots": 3})
    );

    ok(hbk(&repo, &["forget", "--keep-last", "1"]));
    let packs_before = hbk_tests::drivers::packs(&repo).len();
    let prune = lines(hbk(&repo, &["--json", "prune", "--max-unused", "0"]));
    let s = prune.last().unwrap();
    assert_eq!(s["message_type"], "summary");
    for part in ["blobs", "bytes"] {
        let o = &s[part];
        for key in [
            "used",
            "duplicate",
            "unused",
            "total",
            "repack",
            "repack_remove",
            "remove",
            "remove_total",
            "remaining",
        ] {
            assert!(o[key].is_u64(), "{part}.{key}: {s}");
        }
        let n = |k: &str| o[k].as_u64().unwrap();
        if part == "bytes" {
            assert!(n("uncompressed") <= n("used"), "{s}");
        }
        assert_eq!(n("total"), n("used") + n("duplicate") + n("unused"), "{s}");
        assert_eq!(n("remove_total"), n("repack_remove") + n("remove"), "{s}");
        assert!(
            n("remove_total") > 0,
            "the forgotten snapshots' data goes: {s}"
        );
    }
    let packfiles = &s["packfiles"];
    assert_eq!(
        packfiles["total"].as_u64().unwrap() as usize,
        packs_before,
        "{s}"
    );
    ok(restic(&repo, &["check", "--read-data"]));
}

/// The JSON messages of one command's standard output.
fn json_lines(out: &std::process::Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The messages of `kind` among `lines`, by their `item`.
fn by_item<'a>(lines: &'a [Value], kind: &str) -> std::collections::BTreeMap<&'a str, &'a Value> {
    lines
        .iter()
        .filter(|v| v["message_type"] == kind)
        .map(|v| (v["item"].as_str().unwrap_or(""), v))
        .collect()
}

/// Per-item messages (restic 0.19): `backup --json -v` prints a
/// `verbose_status` per file and directory (new, unchanged, modified,
/// with what each added), `excluded_item` and `scan_finished`; text `-vv`
/// prints restic's lines. `restore --json -vv` prints a `verbose_status`
/// per item (restored, updated, unchanged) and periodic `status`
/// messages with restore's counters.
#[test]
fn per_item_messages_follow_restic_0_19() {
    use hbk_tests::drivers::{hbk, hbk_command, Repo};
    use hbk_tests::tree::write_files;
    let dir = tempdir();
    let src = dir.path().join("src");
    write_files(
        &src,
        &[("a", "alpha"), ("sub/b", "beta"), ("skip.tmp", "left out")],
    );
    // 1.6 MB in 40 files: a restore slowed to 768 KiB/s writes them one
    // after the other over two seconds.
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(13);
    for i in 0..40 {
        let mut noise = vec![0u8; 40_000];
        rand::RngCore::fill_bytes(&mut rng, &mut noise);
        std::fs::write(src.join(format!("sub/n{i:02}")), &noise).unwrap();
    }
    let s = src.to_str().unwrap();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));

    let out = ok(hbk(
        &repo,
        &["--json", "-v", "backup", s, "--exclude", "*.tmp"],
    ));
    let lines = json_lines(&out);
    let items = by_item(&lines, "verbose_status");
    let a = items[format!("{s}/a").as_str()];
    assert_eq!(a["action"], "new", "{a}");
    assert_eq!(a["data_size"], 5, "{a}");
    assert!(a["data_size_in_repo"].as_u64().unwrap() > 5, "{a}");
    let n = items[format!("{s}/sub/n07").as_str()];
    assert_eq!(n["data_size"], 40_000, "{n}");
    let sub = items[format!("{s}/sub/").as_str()];
    assert_eq!(sub["action"], "new", "{sub}");
    assert!(sub["metadata_size"].as_u64().unwrap() > 0, "{sub}");
    let scan = lines
        .iter()
        .find(|v| v["action"] == "scan_finished")
        .expect("scan_finished");
    assert_eq!(
        (scan["total_files"].as_u64(), scan["data_size"].as_u64()),
        (Some(42), Some(1_600_009))
    );
    let excluded = by_item(&lines, "excluded_item");
    assert_eq!(
        excluded.keys().copied().collect::<Vec<_>>(),
        [format!("{s}/skip.tmp").as_str()]
    );
    assert_eq!(lines.last().unwrap()["message_type"], "summary");
    // Without -v, none of them.
    let out = ok(hbk(&repo, &["--json", "backup", s, "--exclude", "*.tmp"]));
    assert!(json_lines(&out)
        .iter()
        .all(|v| v["message_type"] != "verbose_status" && v["message_type"] != "excluded_item"));

    std::fs::write(src.join("sub/b"), "beta, longer now").unwrap();
    let out = ok(hbk(
        &repo,
        &["--json", "-v", "backup", s, "--exclude", "*.tmp"],
    ));
    let lines = json_lines(&out);
    let items = by_item(&lines, "verbose_status");
    let action = |p: &str| {
        items[format!("{s}/{p}").as_str()]["action"]
            .as_str()
            .unwrap()
    };
    assert_eq!(
        [
            action("a"),
            action("sub/b"),
            action("sub/n07"),
            action("sub/")
        ],
        ["unchanged", "modified", "unchanged", "modified"]
    );
    assert_eq!(items[format!("{s}/sub/b").as_str()]["data_size"], 16);

    let text = stdout(&ok(hbk(&repo, &["-vv", "backup", s, "--exclude", "*.tmp"])));
    assert!(text.contains(&format!("unchanged {s}/a\n")), "{text}");
    assert!(text.contains(&format!("excluded {s}/skip.tmp\n")), "{text}");
    assert!(text.contains("scan finished in "), "{text}");

    // Restore, slowed down so that status messages come.
    let t = dir.path().join("t");
    let ts = t.to_str().unwrap();
    let mut cmd = hbk_command(
        &repo,
        &[
            "--json",
            "-vv",
            "--limit-download",
            "768",
            "restore",
            "latest",
            "--target",
            ts,
        ],
    );
    cmd.env("RESTIC_PROGRESS_FPS", "10");
    let out = ok(cmd.output().unwrap());
    let lines = json_lines(&out);
    let restored = by_item(&lines, "verbose_status");
    let rel = s.trim_start_matches('/');
    let n = restored[format!("/{rel}/sub/n07").as_str()];
    assert_eq!(
        (n["action"].as_str(), n["size"].as_u64()),
        (Some("restored"), Some(40_000))
    );
    assert_eq!(
        restored[format!("/{rel}/sub").as_str()]["action"],
        "restored"
    );
    let statuses: Vec<&Value> = lines
        .iter()
        .filter(|v| v["message_type"] == "status")
        .collect();
    assert!(
        statuses.len() >= 5,
        "{} status messages: {}",
        statuses.len(),
        describe(&out)
    );
    let last = statuses.last().unwrap();
    assert!(last["total_files"].as_u64().unwrap() >= 45, "{last}");
    assert_eq!(last["total_bytes"], 1_600_021, "{last}");
    let midway = |v: &&&Value| {
        let files = v["files_restored"].as_u64().unwrap_or(0);
        (1..40).contains(&files) && v["bytes_restored"].as_u64() > Some(0)
    };
    assert!(statuses.iter().any(|v| midway(&v)), "{statuses:?}");
    assert_eq!(lines.last().unwrap()["message_type"], "summary");

    // Again over what is there: files are updated, or left unchanged.
    let again = |rule: &str| {
        let out = ok(hbk(
            &repo,
            &[
                "--json",
                "-vv",
                "restore",
                "latest",
                "--target",
                ts,
                "--overwrite",
                rule,
            ],
        ));
        let lines = json_lines(&out);
        let a = by_item(&lines, "verbose_status")[format!("/{rel}/a").as_str()].clone();
        (
            a["action"].as_str().unwrap().to_string(),
            a["size"].as_u64().unwrap(),
        )
    };
    assert_eq!(again("always"), ("updated".to_string(), 5));
    assert_eq!(again("if-changed"), ("unchanged".to_string(), 5));
    assert_eq!(again("never"), ("unchanged".to_string(), 5));
    let text = stdout(&ok(hbk(
        &repo,
        &["-vv", "restore", "latest", "--target", ts, "--dry-run"],
    )));
    assert!(
        text.contains(&format!("updated   /{rel}/a with size 5 B\n")),
        "{text}"
    );
}
