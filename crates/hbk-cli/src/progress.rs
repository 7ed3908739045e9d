//! Progress of backup and restore for people (a bar on a terminal, item
//! listings under `-v`) and for programs (restic's `--json` `status`,
//! `verbose_status`, `excluded_item` and `error` messages).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hbk_engine::progress::{
    BackedUpItem, ItemChange, Progress as EngineProgress, RestoreAction, RestoredItem, Warning,
};
use serde_json::json;

use crate::output::format_bytes;

/// Counters the engine updates and a reporter thread prints.
#[derive(Default)]
pub struct Counters {
    files: AtomicU64,
    bytes: AtomicU64,
    total_files: AtomicU64,
    total_bytes: AtomicU64,
    errors: AtomicU64,
    /// Restore: items the overwrite rule left as they were, and their bytes.
    skipped: AtomicU64,
    skipped_bytes: AtomicU64,
    current: Mutex<String>,
}

/// How progress is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing but warnings (and item listings asked for with `-v`).
    Quiet,
    /// A bar on stderr.
    Bar,
    /// JSON lines on stdout.
    Json,
}

/// Which command's progress this is: their status lines differ.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// `backup`.
    Backup,
    /// `restore`.
    Restore,
}

/// The engine-facing side.
pub struct Progress {
    counters: Arc<Counters>,
    mode: Mode,
    job: Job,
    /// restic's verbosity: 0 with `--quiet`, 1 by default, 2 with `-v`,
    /// 3 with `-vv`.
    verbosity: u8,
    started: Instant,
}

/// restic's verbosity level for the global flags.
pub fn verbosity(quiet: bool, verbose: u8) -> u8 {
    match (quiet, verbose) {
        (true, _) => 0,
        (false, v) => v.saturating_add(1).min(3),
    }
}

impl Progress {
    /// Whether items are listed: backup lists them at verbosity 2 in
    /// JSON and 3 in text, restore at 3.
    fn lists_items(&self) -> bool {
        match (self.job, self.mode) {
            (Job::Backup, Mode::Json) => self.verbosity >= 2,
            _ => self.verbosity >= 3,
        }
    }
}

impl EngineProgress for Progress {
    fn bytes_done(&self, n: u64) {
        self.counters.bytes.fetch_add(n, Ordering::Relaxed);
    }

    fn file_started(&self, path: &Path) {
        if let Ok(mut c) = self.counters.current.try_lock() {
            *c = path.display().to_string();
        }
    }

    fn file_done(&self, path: &Path, size: u64, read: bool) {
        self.counters.files.fetch_add(1, Ordering::Relaxed);
        if !read {
            self.counters.bytes.fetch_add(size, Ordering::Relaxed);
            self.file_started(path);
        }
    }

    fn totals(&self, files: u64, bytes: u64, done: bool) {
        self.counters.total_files.store(files, Ordering::Relaxed);
        self.counters.total_bytes.store(bytes, Ordering::Relaxed);
        if !(done && self.job == Job::Backup && self.verbosity >= 2) {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64();
        if self.mode == Mode::Json {
            println!(
                "{}",
                json!({"message_type": "verbose_status", "action": "scan_finished", "item": "",
                    "duration": secs, "data_size": bytes, "data_size_in_repo": 0,
                    "metadata_size": 0, "metadata_size_in_repo": 0, "total_files": files})
            );
        } else {
            println!(
                "scan finished in {secs:.3}s: {files} files, {}",
                format_bytes(bytes)
            );
        }
    }

    fn warning(&self, w: &Warning) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        if self.mode == Mode::Json {
            eprintln!("{}", error_json("archival", &w.path, &w.message));
        } else {
            eprintln!("error: {}: {}", w.path.display(), w.message);
        }
    }

    fn wants_items(&self) -> bool {
        // A restore counts finished items for its status line.
        self.lists_items() || (self.job == Job::Restore && self.mode != Mode::Quiet)
    }

    fn backed_up(&self, item: &BackedUpItem<'_>) {
        if self.lists_items() {
            println!("{}", backed_up_line(item, self.mode == Mode::Json));
        }
    }

    fn excluded(&self, path: &Path) {
        if !self.lists_items() {
            return;
        }
        let item = path.display().to_string();
        match self.mode {
            Mode::Json => println!("{}", json!({"message_type": "excluded_item", "item": item})),
            _ => println!("excluded {item}"),
        }
    }

    fn restored(&self, item: &RestoredItem<'_>) {
        match item.action {
            RestoreAction::Unchanged => {
                self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .skipped_bytes
                    .fetch_add(item.size, Ordering::Relaxed);
            }
            RestoreAction::Restored | RestoreAction::Updated => {
                self.counters.files.fetch_add(1, Ordering::Relaxed);
            }
            RestoreAction::Deleted => {}
        }
        if self.lists_items() {
            println!("{}", restored_line(item, self.mode == Mode::Json));
        }
    }
}

/// restic's `error` message about one item, printed on standard error.
pub fn error_json(during: &str, item: &Path, message: &str) -> serde_json::Value {
    json!({
        "message_type": "error",
        "error": {"message": message},
        "during": during,
        "item": item.display().to_string(),
    })
}

/// A backed-up item as restic lists it: a `verbose_status` message, or
/// a line such as `new       /etc/hosts, saved in 0.001s (12 B added,
/// 44 B stored)`.
fn backed_up_line(item: &BackedUpItem<'_>, json: bool) -> String {
    let mut name = item.path.display().to_string();
    if item.is_dir && !name.ends_with('/') {
        name.push('/');
    }
    let action = match item.change {
        ItemChange::New => "new",
        ItemChange::Unchanged => "unchanged",
        ItemChange::Modified => "modified",
    };
    let unchanged = item.change == ItemChange::Unchanged;
    if json {
        let n = |v: u64| if unchanged { 0 } else { v };
        let secs = if unchanged {
            0.0
        } else {
            item.duration.as_secs_f64()
        };
        return json!({
            "message_type": "verbose_status",
            "action": action,
            "item": name,
            "duration": secs,
            "data_size": n(item.data_added),
            "data_size_in_repo": n(item.data_stored),
            "metadata_size": n(item.tree_added),
            "metadata_size_in_repo": n(item.tree_stored),
            "total_files": 0,
        })
        .to_string();
    }
    if unchanged {
        return format!("unchanged {name}");
    }
    let mut line = format!(
        "{action:<9} {name}, saved in {:.3}s ({} added",
        item.duration.as_secs_f64(),
        format_bytes(item.data_added)
    );
    line += &format!(", {} stored", format_bytes(item.data_stored));
    if item.is_dir {
        line += &format!(", {} metadata", format_bytes(item.tree_stored));
    }
    line.push(')');
    line
}

/// A restored item as restic lists it: a `verbose_status` message, or a
/// line such as `restored  /etc/hosts with size 12 B`.
fn restored_line(item: &RestoredItem<'_>, json: bool) -> String {
    let action = match item.action {
        RestoreAction::Restored => "restored",
        RestoreAction::Updated => "updated",
        RestoreAction::Unchanged => "unchanged",
        RestoreAction::Deleted => "deleted",
    };
    let name = Path::new("/").join(item.path).display().to_string();
    if json {
        return json!({"message_type": "verbose_status", "action": action, "item": name, "size": item.size})
            .to_string();
    }
    match item.is_file {
        true => format!("{action:<9} {name} with size {}", format_bytes(item.size)),
        false => format!("{action:<9} {name}"),
    }
}

/// Runs the reporter until dropped.
pub struct Reporter {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Picks the mode from the flags and whether stderr is a terminal.
pub fn mode(json: bool, quiet: bool) -> Mode {
    if json {
        Mode::Json
    } else if quiet || !std::io::stderr().is_terminal() {
        Mode::Quiet
    } else {
        Mode::Bar
    }
}

/// Starts reporting `job` in `mode` at restic's `verbosity` (see
/// [`verbosity`]); returns the engine-facing progress and the reporter.
pub fn start(job: Job, mode: Mode, verbosity: u8) -> (Progress, Reporter) {
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let thread = (mode != Mode::Quiet).then(|| {
        let counters = Arc::clone(&counters);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || report(&counters, &stop, job, mode, started))
    });
    let progress = Progress {
        counters,
        mode,
        job,
        verbosity,
        started,
    };
    (progress, Reporter { stop, thread })
}

/// How often progress is shown: `RESTIC_PROGRESS_FPS` (or
/// `HBK_PROGRESS_FPS`) times a second when set to a positive number (at
/// most 100), else once a second for JSON and ten times for the bar.
fn tick(mode: Mode, fps: Option<&str>) -> Duration {
    match fps.and_then(|f| f.trim().parse::<f64>().ok()) {
        Some(f) if f > 0.0 && f.is_finite() => Duration::from_secs_f64(1.0 / f.min(100.0)),
        _ if mode == Mode::Json => Duration::from_secs(1),
        _ => Duration::from_millis(100),
    }
}

/// One snapshot of the counters.
struct Snapshot {
    elapsed: Duration,
    files: u64,
    bytes: u64,
    total_files: u64,
    total_bytes: u64,
    errors: u64,
    skipped: u64,
    skipped_bytes: u64,
    current: String,
}

impl Snapshot {
    fn take(c: &Counters, started: Instant) -> Snapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            elapsed: started.elapsed(),
            files: get(&c.files),
            bytes: get(&c.bytes),
            total_files: get(&c.total_files),
            total_bytes: get(&c.total_bytes),
            errors: get(&c.errors),
            skipped: get(&c.skipped),
            skipped_bytes: get(&c.skipped_bytes),
            current: c.current.lock().map(|s| s.clone()).unwrap_or_default(),
        }
    }

    fn fraction(&self) -> f64 {
        match self.total_bytes {
            0 => 0.0,
            t => (self.bytes as f64 / t as f64).min(1.0),
        }
    }

    /// The bar's message.
    fn bar(&self, job: Job) -> String {
        match job {
            Job::Backup => format!(
                "{:5.1}%  {} / {} files, {} / {}  {}",
                self.fraction() * 100.0,
                self.files,
                self.total_files,
                indicatif::HumanBytes(self.bytes),
                indicatif::HumanBytes(self.total_bytes),
                self.current
            ),
            Job::Restore => {
                let mut line = format!(
                    "{:5.2}%  {} files/dirs {}, total {} files/dirs {}",
                    self.fraction() * 100.0,
                    self.files,
                    format_bytes(self.bytes),
                    self.total_files,
                    format_bytes(self.total_bytes)
                );
                if self.skipped > 0 {
                    line += &format!(
                        ", skipped {} files/dirs {}",
                        self.skipped,
                        format_bytes(self.skipped_bytes)
                    );
                }
                line
            }
        }
    }

    /// restic's `status` message of the job.
    fn json(&self, job: Job) -> serde_json::Value {
        let secs = self.elapsed.as_secs();
        match job {
            Job::Backup => json!({
                "message_type": "status",
                "seconds_elapsed": secs,
                "percent_done": self.fraction(),
                "total_files": self.total_files,
                "files_done": self.files,
                "total_bytes": self.total_bytes,
                "bytes_done": self.bytes,
                "error_count": self.errors,
                "current_files": [self.current],
            }),
            Job::Restore => {
                // restic leaves zero counts out of this message.
                let mut m = serde_json::Map::new();
                m.insert("message_type".into(), "status".into());
                let counts = [
                    ("seconds_elapsed", secs),
                    ("total_files", self.total_files),
                    ("files_restored", self.files),
                    ("files_skipped", self.skipped),
                    ("total_bytes", self.total_bytes),
                    ("bytes_restored", self.bytes),
                    ("bytes_skipped", self.skipped_bytes),
                ];
                m.insert("percent_done".into(), self.fraction().into());
                for (k, v) in counts.into_iter().filter(|(_, v)| *v > 0) {
                    m.insert(k.into(), v.into());
                }
                serde_json::Value::Object(m)
            }
        }
    }
}

fn report(c: &Counters, stop: &AtomicBool, job: Job, mode: Mode, started: Instant) {
    let bar = (mode == Mode::Bar).then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("[{elapsed}] {spinner} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        b
    });
    let tick = tick(mode, crate::environment::env("PROGRESS_FPS").as_deref());
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(tick.min(Duration::from_millis(50)));
        if last.elapsed() < tick {
            continue;
        }
        last = Instant::now();
        let now = Snapshot::take(c, started);
        match &bar {
            Some(b) => b.set_message(now.bar(job)),
            None => println!("{}", now.json(job)),
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn progress_fps_sets_the_tick() {
        assert_eq!(tick(Mode::Json, None), Duration::from_secs(1));
        assert_eq!(tick(Mode::Bar, None), Duration::from_millis(100));
        assert_eq!(tick(Mode::Json, Some("4")), Duration::from_millis(250));
        assert_eq!(tick(Mode::Json, Some("1000")), Duration::from_millis(10));
        for bad in ["0", "-2", "fast", "NaN", "inf"] {
            assert_eq!(tick(Mode::Json, Some(bad)), Duration::from_secs(1), "{bad}");
        }
    }

    #[test]
    fn verbosity_follows_restic() {
        assert_eq!(verbosity(true, 0), 0);
        assert_eq!(verbosity(false, 0), 1);
        assert_eq!(verbosity(false, 1), 2);
        assert_eq!(verbosity(false, 2), 3);
        assert_eq!(verbosity(false, 9), 3);
    }

    #[test]
    fn items_are_listed_as_restic_lists_them() {
        let path = PathBuf::from("/src/dir");
        let mut item = BackedUpItem {
            path: &path,
            is_dir: true,
            change: ItemChange::New,
            duration: Duration::from_millis(1500),
            data_added: 0,
            data_stored: 0,
            tree_added: 300,
            tree_stored: 200,
        };
        assert_eq!(
            backed_up_line(&item, false),
            "new       /src/dir/, saved in 1.500s (0 B added, 0 B stored, 200 B metadata)"
        );
        let v: serde_json::Value = serde_json::from_str(&backed_up_line(&item, true)).unwrap();
        assert_eq!(v["item"], "/src/dir/");
        assert_eq!(v["metadata_size"], 300);
        assert_eq!(v["metadata_size_in_repo"], 200);
        item.change = ItemChange::Unchanged;
        item.is_dir = false;
        assert_eq!(backed_up_line(&item, false), "unchanged /src/dir");
        let v: serde_json::Value = serde_json::from_str(&backed_up_line(&item, true)).unwrap();
        assert_eq!(
            (v["action"].as_str(), v["duration"].as_f64()),
            (Some("unchanged"), Some(0.0))
        );

        let rel = PathBuf::from("a/b");
        let r = RestoredItem {
            path: &rel,
            is_file: true,
            action: RestoreAction::Updated,
            size: 2048,
        };
        assert_eq!(
            restored_line(&r, false),
            "updated   /a/b with size 2.000 KiB"
        );
        let v: serde_json::Value = serde_json::from_str(&restored_line(&r, true)).unwrap();
        assert_eq!(
            v,
            json!({"message_type": "verbose_status", "action": "updated", "item": "/a/b", "size": 2048})
        );
    }

    #[test]
    fn restore_status_leaves_zero_counts_out() {
        let s = Snapshot {
            elapsed: Duration::from_secs(3),
            files: 2,
            bytes: 50,
            total_files: 4,
            total_bytes: 100,
            errors: 0,
            skipped: 0,
            skipped_bytes: 0,
            current: String::new(),
        };
        assert_eq!(
            s.json(Job::Restore),
            json!({"message_type": "status", "seconds_elapsed": 3, "percent_done": 0.5,
                "total_files": 4, "files_restored": 2, "total_bytes": 100, "bytes_restored": 50})
        );
        assert_eq!(
            s.bar(Job::Restore),
            "50.00%  2 files/dirs 50 B, total 4 files/dirs 100 B"
        );
    }
}
