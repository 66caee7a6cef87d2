//! Integration tests: one binary, a module per area.

mod alerts;
mod aws_e2e;
mod aws_ledger;
mod aws_queue;
mod aws_store;
mod bad_responses;
mod cli;
mod contract;
mod deploy;
mod escapes;
mod fixtures;
mod hostile_source;
mod hostile_state;
mod imports;
mod lambda;
mod limits;
mod moto;
mod robustness;
mod run;
mod schema;
mod secrets;
mod shutdown;
mod smtp;
mod source;
mod support;
mod workspace;
