//! The `hbk` command line: parses arguments, calls the engine, prints.

mod cli;
mod commands;
mod exit;
mod output;
mod password;
mod progress;
mod repo;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
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
