//! One progress bar per phase for commands that run in phases (prune,
//! copy, check), drawn on stderr when it is a terminal.

use std::io::IsTerminal;
use std::sync::Mutex;

use hbk_engine::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// Draws the current phase; silent when not on a terminal, with `--quiet`
/// or with `--json`.
pub struct PhaseBar {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl PhaseBar {
    /// A bar shown only where a person is watching.
    pub fn new(json: bool, quiet: bool) -> PhaseBar {
        PhaseBar {
            enabled: !json && !quiet && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        if self.enabled {
            f(&mut self.bar.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }
}

impl Progress for PhaseBar {
    fn phase_start(&self, phase: &str, total: Option<u64>) {
        self.with_bar(|slot| {
            let (bar, template) = match total {
                Some(n) => (
                    ProgressBar::new(n),
                    "[{elapsed}] {percent:>3}% {pos} / {len} {msg}",
                ),
                None => (
                    ProgressBar::new_spinner(),
                    "[{elapsed}] {spinner} {pos} {msg}",
                ),
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(phase.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            if let Some(old) = slot.replace(bar) {
                old.finish();
            }
        });
    }

    fn phase_advance(&self, items: u64) {
        self.with_bar(|slot| {
            if let Some(b) = slot {
                b.inc(items);
            }
        });
    }

    fn phase_finish(&self) {
        self.with_bar(|slot| {
            if let Some(b) = slot.take() {
                b.finish();
            }
        });
    }
}
