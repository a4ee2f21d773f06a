//! The exit codes of `baton`, as documented in the README.

/// The command did what was asked; `baton run`: the execution COMPLETED.
pub const SUCCESS: u8 = 0;
/// `baton run`: the execution FAILED. Any command: Baton itself could not do its work (a bad
/// setting, the database down). `baton validate`: the workflow is invalid.
pub const FAILURE: u8 = 1;
/// The command line was wrong.
pub const USAGE: u8 = 2;
/// `baton run`: the workflow or its input is invalid; nothing ran.
pub const INVALID: u8 = 3;
/// `baton run`: the execution is WAITING for an answer or a time; `baton resume` goes on.
pub const WAITING: u8 = 4;
/// `baton run`: the execution was CANCELLED (Ctrl-C).
pub const CANCELLED: u8 = 5;
