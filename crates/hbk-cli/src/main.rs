//! The `hbk` command line: parses arguments, calls the engine, prints.

// Doc comments on arguments are `--help` text, where `SNAPSHOT[:PATH]` is
// the usual spelling, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

mod cli;
mod commands;
mod exit;
mod flags;
mod global;
mod output;
mod password;
mod phase_bar;
mod progress;
mod repo;
mod selection;

use clap::Parser;

/// Restores the default action of SIGPIPE, so that `hbk … | head` ends
/// quietly like other Unix tools instead of panicking on a closed pipe.
#[allow(unsafe_code)]
fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: called first thing in main, before any other thread exists;
    // SIG_DFL installs no Rust handler.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

fn main() {
    default_sigpipe();
    let cli = cli::Cli::parse();
    // Ctrl-C or SIGTERM: release repository locks, exit as restic does.
    let _ = ctrlc::set_handler(|| {
        // First undo what a plan run holds outside (PBS maintenance mode).
        hbk_plan::interrupt::run_all();
        hbk_engine::lock::release_all();
        eprintln!("signal received, cleaning up");
        std::process::exit(exit::INTERRUPTED);
    });
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            let code = exit::code_for(&err);
            eprintln!("Fatal: {}", exit::message(&err));
            code
        }
    };
    std::process::exit(code);
}
