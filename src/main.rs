//! The `stockrun` binary: parses the command line, runs one subcommand, maps its result to an
//! exit status (0 ok, 1 invalid pipeline or failure, 2 usage error).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stockrun::commands::{schema, validate};
use stockrun::config::env::Environment;

/// Run data pipelines described in one YAML file: poll a REST API, queue each record, keep the
/// fields you pick, store them, and e-mail a digest.
#[derive(Debug, Parser)]
#[command(
    name = "stockrun",
    version,
    about,
    propagate_version = true,
    after_help = "Examples:\n  stockrun validate pipelines/*.yaml\n  stockrun validate --format json pipelines/stocks.yaml\n  stockrun schema > schemas/pipeline.schema.json\n\nThe pipeline format: README.md, or `stockrun schema`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check pipeline files and print every problem, with file:line:column.
    ///
    /// Exit status: 0 when no file has an error (warnings are allowed), 1 when any file has an
    /// error, 2 on a usage error. Environment variables that are not set are warnings, so CI can
    /// validate without secrets.
    Validate {
        /// Pipeline files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = validate::Format::Text)]
        format: validate::Format,
        /// Treat warnings as errors (exit 1 when there is any warning).
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Print the JSON Schema of the pipeline format (draft-07), for editors and CI.
    Schema,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let result = match cli.command {
        Command::Validate {
            files,
            format,
            deny_warnings,
        } => {
            let options = validate::Options {
                files,
                format,
                deny_warnings,
            };
            validate::run(&options, &Environment::from_process(), &mut stdout)
        }
        Command::Schema => schema::run(&mut stdout).map(|()| true),
    };
    let _ = stdout.flush();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stockrun: error: {err}");
            ExitCode::from(1)
        }
    }
}
