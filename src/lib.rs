//! stockrun: run a data pipeline (poll a REST API, queue, process, store, notify) described in one
//! YAML file.
//!
//! The library holds everything the binary does; `main.rs` is glue: the Lambda mode or the command
//! line, which `cli` parses, `settings` resolves into each command's options, `commands` runs and
//! `exit` maps to an exit status. Below the edge: the pipeline format (`config`), the stages
//! (`source`, `queue`, `process`, `store`, `notify`) and the `runtime` that drives them.

#![warn(missing_docs)]

pub mod aws;
pub mod cli;
pub mod commands;
pub mod compile;
pub mod config;
pub mod deploy;
pub mod diag;
pub mod exit;
pub mod logging;
pub mod message;
pub mod naming;
pub mod notify;
mod percent;
pub mod process;
pub mod queue;
pub mod redact;
pub mod resources;
pub mod retry;
pub mod runtime;
pub mod settings;
pub mod source;
pub mod sqlite;
pub mod store;
pub mod visible;
