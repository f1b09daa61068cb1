//! The `plinth` subcommands other than `serve`.

pub mod build;
pub mod call;
pub mod check;
pub mod demo;
pub mod dev;
pub mod inspect;
pub mod legacy;
pub mod new;
pub mod test_cases;
