//! The `plinth` subcommands other than `serve`.

pub mod call;
pub mod check;
pub mod demo;
pub mod inspect;
pub mod legacy;
