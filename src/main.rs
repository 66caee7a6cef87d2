//! The `stockrun` binary, glue only: serve Lambda when deployed as a function, else parse the
//! command line (`cli`; usage errors exit 2), resolve it (`settings`), run the command
//! (`commands`) and exit with its status (`exit`: 0 ok, 1 invalid pipeline, 2 usage, 3 failure
//! at run time), printing an error as `stockrun: error: …`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use stockrun::cli::Cli;
use stockrun::config::env::Environment;
use stockrun::settings::Settings;

fn main() -> ExitCode {
    // Deployed as a Lambda function, the same binary serves the runtime API instead.
    if stockrun::runtime::lambda::is_lambda() {
        return stockrun::runtime::lambda::serve();
    }
    let settings = Settings::resolve(Cli::parse());
    if settings.uses_backend() {
        init_logging();
    }
    let result = stockrun::commands::execute(&settings, &Environment::from_process());
    stockrun::exit::report(result).into()
}

/// Logs to stderr; `STOCKRUN_LOG` (or `RUST_LOG`) filters, default `info` for stockrun. The AWS
/// SDK's `trace` events that print credentials are never shown, and AWS credentials from the
/// environment are replaced in every line (the SDK's `debug` events print the access key ID).
fn init_logging() {
    use tracing_subscriber::prelude::*;
    let filter = std::env::var("STOCKRUN_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn,stockrun=info".to_owned());
    let credentials = std::sync::Arc::new(stockrun::redact::aws_credentials_from_env());
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(move || stockrun::redact::Redacted(std::io::stderr(), credentials.clone()))
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(tracing_subscriber::filter::filter_fn(
            stockrun::redact::shows_no_credentials,
        ));
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(filter))
        .with(stderr)
        .init();
}
