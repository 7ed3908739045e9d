//! One module per command.

pub mod backup;
pub mod check;
pub mod copy;
pub mod forget;
pub mod init;
pub mod key;
pub mod ls;
pub mod prune;
pub mod restore;
pub mod unlock;
