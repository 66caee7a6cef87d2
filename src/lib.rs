//! stockrun: run a data pipeline (poll a REST API, queue, process, store, notify) described in one
//! YAML file.
//!
//! The library holds everything the binary does; `main.rs` is glue: the Lambda mode or the command
//! line, which `cli` parses, `settings` resolves into each command's options, `commands` runs and
//! `exit` maps to an exit status (0 ok, 1 invalid pipeline, 2 usage, 3 runtime failure).
//!
//! - The pipeline format: `config` (model, file reading, YAML loading with positions, the
//!   config-level checks). `compile` is the one path from a file to the running thing: the config
//!   checks, then each stage's own constructor, whose errors are `validate`'s diagnostics and whose
//!   result is what the runtime runs (one rule, one place).
//! - The stages: `source` (poll), `queue`, `process`, `store`, `notify`; each backend stage is a
//!   small trait with an embedded (SQLite, outbox) and an AWS implementation, provisioning beside
//!   its AWS backend.
//! - `runtime` drives them: the backend choice in one place, the one batch lifecycle
//!   (`runtime::batch`: store, e-mail, acknowledge) shared by the consumer and the Lambda handler,
//!   the poll loop, shutdown; `runtime::lambda` is the Lambda mode. `deploy` writes the
//!   CloudFormation template.
//! - Leaves, which import only `config` and each other (nothing of the runtime, the edge, the
//!   stages, `deploy` or `compile`): `naming` (resource names, key schema), `retry` (retry
//!   policies), `resources` (what a pipeline needs on AWS), `aws`, `sqlite`, `sqlite_error`,
//!   `redact`, `logging`, `metrics` (names and recorders), `http` (the `--metrics` and `serve`
//!   server), `diag`, `located`, `percent`, `visible`, `message`, `time_zone` (IANA zone names),
//!   and the directory `chart` (the chart renderer: `runtime::chart` gathers its data). Every
//!   top-level module but `cli`, `settings`, `exit` and `compile` is a leaf;
//!   `tests/it/imports.rs` keeps these directions, `clap` inside `cli`, and the modules free of
//!   import cycles.

#![warn(missing_docs)]

pub mod alert;
pub mod aws;
pub mod chart;
pub mod cli;
pub mod commands;
pub mod compile;
pub mod config;
pub mod deploy;
pub mod diag;
pub mod exit;
pub mod http;
pub mod located;
pub mod logging;
pub mod message;
pub mod metrics;
pub mod naming;
pub mod notify;
pub mod page;
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
pub mod sqlite_error;
pub mod store;
pub mod time_zone;
pub mod visible;
