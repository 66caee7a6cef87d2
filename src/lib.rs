//! stockrun: run a data pipeline (poll a REST API, queue, process, store, notify) described in one
//! YAML file.
//!
//! The library holds everything the binary does; `main.rs` only parses the command line and maps
//! results to exit codes. This first layer is the pipeline format: its model, how a file is loaded
//! (with positions kept for every value) and how it is validated.

#![warn(missing_docs)]

pub mod aws;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod diag;
pub mod logging;
pub mod message;
pub mod notify;
pub mod process;
pub mod queue;
pub mod redact;
pub mod runtime;
pub mod source;
pub mod sqlite;
pub mod sqlite_error;
pub mod store;
