//! Integration tests: one binary, a module per area.

mod cli;
mod fixtures;
mod robustness;
mod schema;
mod secrets;
mod support;
