//! Backup progress for people (a bar on a terminal) and for programs
//! (restic's `--json` status lines).

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hbk_engine::progress::{Progress as EngineProgress, Warning};
use serde_json::json;

/// Counters the engine updates and a reporter thread prints.
#[derive(Default)]
pub struct Counters {
    files: AtomicU64,
    bytes: AtomicU64,
    total_files: AtomicU64,
    total_bytes: AtomicU64,
    errors: AtomicU64,
    current: Mutex<String>,
}

/// How progress is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing but warnings.
    Quiet,
    /// A bar on stderr.
    Bar,
    /// JSON lines on stdout.
    Json,
}

/// The engine-facing side.
pub struct Progress {
    counters: Arc<Counters>,
    mode: Mode,
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

    fn totals(&self, files: u64, bytes: u64, _done: bool) {
        self.counters.total_files.store(files, Ordering::Relaxed);
        self.counters.total_bytes.store(bytes, Ordering::Relaxed);
    }

    fn warning(&self, w: &Warning) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        if self.mode == Mode::Json {
            println!(
                "{}",
                json!({"message_type": "error", "error": {"message": w.message}, "during": "archival", "item": w.path.display().to_string()})
            );
        } else {
            eprintln!("error: {}: {}", w.path.display(), w.message);
        }
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

/// Starts reporting; returns the engine-facing progress and the reporter.
pub fn start(mode: Mode) -> (Progress, Reporter) {
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let thread = (mode != Mode::Quiet).then(|| {
        let counters = Arc::clone(&counters);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || report(&counters, &stop, mode))
    });
    (Progress { counters, mode }, Reporter { stop, thread })
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

fn report(c: &Counters, stop: &AtomicBool, mode: Mode) {
    let started = Instant::now();
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
        let files = c.files.load(Ordering::Relaxed);
        let bytes = c.bytes.load(Ordering::Relaxed);
        let current = c.current.lock().map(|s| s.clone()).unwrap_or_default();
        let total_files = c.total_files.load(Ordering::Relaxed);
        let total_bytes = c.total_bytes.load(Ordering::Relaxed);
        let percent = if total_bytes > 0 {
            (bytes as f64 / total_bytes as f64).min(1.0)
        } else {
            0.0
        };
        match &bar {
            Some(b) => b.set_message(format!(
                "{:5.1}%  {files} / {total_files} files, {} / {}  {current}",
                percent * 100.0,
                indicatif::HumanBytes(bytes),
                indicatif::HumanBytes(total_bytes)
            )),
            None => println!(
                "{}",
                json!({
                    "message_type": "status",
                    "seconds_elapsed": started.elapsed().as_secs(),
                    "percent_done": percent,
                    "total_files": total_files,
                    "files_done": files,
                    "total_bytes": total_bytes,
                    "bytes_done": bytes,
                    "error_count": c.errors.load(Ordering::Relaxed),
                    "current_files": [current],
                })
            ),
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
