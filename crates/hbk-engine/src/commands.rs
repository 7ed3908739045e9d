//! One module per command.

pub mod backup;
pub mod check;
pub mod init;
pub mod ls;
pub mod restore;
