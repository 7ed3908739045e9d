//! Killing a command with `SIGKILL` at a chosen moment of its run, and
//! choosing those moments from a seeded generator.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How a command run with a kill timer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `SIGKILL` ended it.
    Killed,
    /// It exited on its own before the timer fired.
    Exited(ExitStatus),
}

/// Runs `cmd` (output discarded) and sends it `SIGKILL` once `at` has
/// passed, unless it exits first.
pub fn run_and_kill_at(mut cmd: Command, at: Duration) -> Ending {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            return Ending::Exited(status);
        }
        let elapsed = started.elapsed();
        if elapsed >= at {
            break;
        }
        std::thread::sleep((at - elapsed).min(Duration::from_millis(2)));
    }
    // The child may have exited since the last look: the status says
    // which of the two happened.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let status = child.wait().expect("waiting for the killed child");
    if status.signal() == Some(nix::sys::signal::Signal::SIGKILL as i32) {
        Ending::Killed
    } else {
        Ending::Exited(status)
    }
}

/// Runs `cmd` to the end and returns its output and how long it took.
pub fn timed(mut cmd: Command) -> (Output, Duration) {
    let started = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    (out, started.elapsed())
}

/// `n` kill moments spread over `duration`: one uniformly random point
/// in each of `n` equal slices, so every part of the run gets its share.
pub fn kill_times(rng: &mut StdRng, duration: Duration, n: u32) -> Vec<Duration> {
    (0..n)
        .map(|i| duration.mul_f64((f64::from(i) + rng.gen::<f64>()) / f64::from(n)))
        .collect()
}

/// The campaign's seed: `HBK_KILL_SEED` if set, else taken from the
/// clock; printed either way so a failing run can be repeated.
pub fn seeded_rng(what: &str) -> StdRng {
    let seed = match std::env::var("HBK_KILL_SEED") {
        Ok(s) => s
            .parse::<u64>()
            .unwrap_or_else(|e| panic!("HBK_KILL_SEED={s:?}: {e}")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    eprintln!("{what}: seed {seed} (repeat with HBK_KILL_SEED={seed})");
    StdRng::seed_from_u64(seed)
}

/// A number from the environment variable `name`, else `default`.
pub fn env_count(name: &str, default: u32) -> u32 {
    match std::env::var(name) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|e| panic!("{name}={s:?} is not a count: {e}")),
        Err(_) => default,
    }
}
