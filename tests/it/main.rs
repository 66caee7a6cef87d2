//! Integration tests: one binary, a module per area.

mod cli;
mod fixtures;
mod robustness;
mod run;
mod schema;
mod secrets;
mod smtp;
mod source;
mod support;
mod workspace;
