//! The `hbk` command line: parses arguments, calls the engine, prints.

// Doc comments on arguments are `--help` text, where `SNAPSHOT[:PATH]` is
// the usual spelling, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

mod cli;
mod commands;
mod environment;
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

/// Serves allocations of 4 MiB and more from their own mappings, always.
/// glibc's default raises that threshold to the largest block freed so
/// far (up to 32 MiB), after which pack and read buffers land in
/// per-thread heaps that keep their memory; a backup's four workers then
/// held ~40 MB each beyond what was in use. Buffers that large are few and
/// recycled, so mapping them costs nothing measurable.
#[allow(unsafe_code)]
fn fixed_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator parameter; called first thing
    // in main, before any other thread allocates.
    let _ = unsafe { nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, 4 << 20) };
}

fn main() {
    default_sigpipe();
    fixed_mmap_threshold();
    let cli = match cli::Cli::try_parse_from(cli::with_verbose_levels(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => {
            // `--help` and `--version` print and succeed; an unknown or
            // malformed flag exits 1, as restic's usage errors do (clap
            // would exit 2).
            let code = if e.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    // Ctrl-C or SIGTERM: release repository locks, exit as restic does.
    let _ = ctrlc::set_handler(|| {
        // First undo what a plan run holds outside (PBS maintenance mode).
        hbk_plan::interrupt::run_all();
        hbk_engine::lock::release_all();
        eprintln!("signal received, cleaning up");
        std::process::exit(exit::INTERRUPTED);
    });
    let json = cli.global.json;
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            let code = exit::code_for(&err);
            let message = format!("Fatal: {}", exit::message(&err));
            if json {
                // restic 0.17+: one `exit_error` message on stderr.
                let e = serde_json::json!({"message_type": "exit_error", "code": code, "message": message});
                eprintln!("{e}");
            } else {
                eprintln!("{message}");
            }
            code
        }
    };
    std::process::exit(code);
}
