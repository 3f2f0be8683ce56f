//! The subcommands: one thin adapter each, from parsed arguments to the
//! use cases in `app` and the renderers in `ui`, returning an exit code.

pub mod config;
pub mod copy;
pub mod doctor;
pub mod exec;
pub mod logs;
pub mod ls;
pub mod maintain;
pub mod proxy;
pub mod rdp;
pub mod run;
pub mod session;
pub mod show;
pub mod ssh;
pub mod ssh_config;

pub use crate::app::Context;
