//! One module per subcommand; each takes its parsed arguments and returns the exit status.

pub mod deploy_template;
pub mod init;
pub mod run;
pub mod schema;
pub mod show;
pub mod validate;
