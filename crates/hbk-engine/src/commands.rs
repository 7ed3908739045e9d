//! One module per command.

pub mod backup;
pub mod check;
pub mod copy;
pub mod diff;
pub mod dump;
pub mod find;
pub mod forget;
pub mod init;
pub mod key;
pub mod ls;
pub mod migrate;
pub mod prune;
pub mod recover;
pub mod repair;
pub mod restore;
pub mod rewrite;
pub mod stats;
pub mod tag;
pub mod unlock;
