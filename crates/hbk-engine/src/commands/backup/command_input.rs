//! A command's standard output as the content of a backup (restic's
//! `backup --stdin-from-command`). The read that reaches the end of the
//! output waits for the command and fails when the command failed, so a
//! failed command never becomes a snapshot.

use std::ffi::OsString;
use std::io::{self, Read};
use std::process::{Child, ChildStdout, Command, Stdio};

/// A running command whose standard output is read.
pub struct CommandOutput {
    child: Child,
    stdout: ChildStdout,
    program: String,
    finished: bool,
}

impl CommandOutput {
    /// Starts `argv` (program and arguments) with its standard output
    /// piped; its standard error goes where hbk's goes.
    pub fn spawn(argv: &[OsString]) -> io::Result<CommandOutput> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no command given"))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("starting {program:?}: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("the command's output is not piped"))?;
        Ok(CommandOutput {
            child,
            stdout,
            program: program.to_string_lossy().into_owned(),
            finished: false,
        })
    }
}

impl Read for CommandOutput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.finished {
            let status = self.child.wait()?;
            self.finished = true;
            if !status.success() {
                return Err(io::Error::other(format!(
                    "command {:?} failed: {status}",
                    self.program
                )));
            }
        }
        Ok(n)
    }
}

impl Drop for CommandOutput {
    /// A backup that stopped early does not leave the command running.
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn output_is_read_and_failure_is_an_error() {
        let mut out = String::new();
        CommandOutput::spawn(&argv(&["sh", "-c", "printf hello"]))
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello");
        let mut failing =
            CommandOutput::spawn(&argv(&["sh", "-c", "printf part; exit 3"])).unwrap();
        let e = failing.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("exit status: 3"), "{e}");
        assert!(CommandOutput::spawn(&argv(&["/no/such/program"])).is_err());
        assert!(CommandOutput::spawn(&[]).is_err());
    }
}
