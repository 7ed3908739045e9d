//! `key`'s subcommands and flags.

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `key`.
#[derive(Args, Debug)]
pub struct KeyArgs {
    /// The key subcommand.
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// Key subcommands.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// List the key files.
    List,
    /// Add a new key (password) to the repository.
    Add(NewKeyArgs),
    /// Remove a key (not the one in use).
    Remove(RemoveKeyArgs),
    /// Change the password: add a new key, remove the one in use.
    Passwd(NewKeyArgs),
}

/// `key add` and `key passwd`.
#[derive(Args, Debug)]
pub struct NewKeyArgs {
    /// File from which to read the new password.
    #[arg(long = "new-password-file")]
    pub new_password_file: Option<PathBuf>,
    /// Give the new key an empty password.
    #[arg(
        long = "new-insecure-no-password",
        conflicts_with = "new_password_file"
    )]
    pub new_insecure_no_password: bool,
    /// The user name for the new key (default: the current user).
    #[arg(long)]
    pub user: Option<String>,
    /// The host name for the new key (default: this host).
    #[arg(long)]
    pub host: Option<String>,
}

/// `key remove`.
#[derive(Args, Debug)]
pub struct RemoveKeyArgs {
    /// The key's id or a unique prefix of it.
    pub id: String,
}
