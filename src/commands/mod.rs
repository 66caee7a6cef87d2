//! One module per subcommand (`completions` holds `completions` and `man`; `dry_run` is `run`'s
//! and `poll`'s `--dry-run`); each takes its resolved options ([`Command`], which `crate::settings`
//! resolves from the command line) and says how it
//! ended with an [`ExitStatus`] (or an error `ExitStatus::of_error` classifies). [`execute`]
//! runs one command with stdout locked and flushed, on a tokio runtime when it needs one.

pub mod backtest;
pub mod chart;
pub mod deploy_template;
pub mod dry_run;
pub mod echo;
pub mod init;
pub mod invoke;
pub mod run;
pub mod schema;
pub mod serve;
pub mod show;
pub mod test;
pub mod validate;

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;

use crate::compile::{LoadError, Loaded, load};
use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::exit::ExitStatus;

/// How `validate`, `backtest` and `test` print: for people, or one JSON document for editors
/// and CI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Lines for people (`validate`: `file:line:column: severity: message`, the source line and
    /// a caret).
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// One command, ready to run.
#[derive(Clone, Debug)]
pub enum Command {
    /// `stockrun validate`.
    Validate(validate::Options),
    /// `stockrun schema`.
    Schema,
    /// `stockrun run`, `poll` or `consume`.
    Run(run::Options),
    /// `stockrun show`.
    Show(show::Options),
    /// `stockrun backtest`.
    Backtest(backtest::Options),
    /// `stockrun chart`.
    Chart(chart::Options),
    /// `stockrun init`.
    Init(init::Options),
    /// `stockrun deploy-template`.
    DeployTemplate(deploy_template::Options),
    /// `stockrun test`.
    Test(test::Options),
    /// `stockrun echo`.
    Echo(echo::Options),
    /// `stockrun serve`.
    Serve(serve::Options),
    /// `stockrun invoke`.
    Invoke(invoke::Options),
    /// `stockrun completions SHELL`.
    Completions(crate::cli::Shell),
    /// `stockrun man [--dir DIR]`.
    Man(Option<std::path::PathBuf>),
}

impl Command {
    /// Whether the command runs stages (and so logs and needs the async runtime): `run`,
    /// `poll`, `consume`, `show`, `backtest`, `init` and `invoke` (not `--print-event`).
    pub fn uses_backend(&self) -> bool {
        matches!(
            self,
            Command::Run(_)
                | Command::Show(_)
                | Command::Init(_)
                | Command::Backtest(_)
                | Command::Serve(_)
                | Command::Chart(_)
                | Command::Invoke(invoke::Options::Invoke { .. })
        )
    }
}

/// Runs `command` with the variables in `env`, writing its output to
/// stdout, which is flushed before this returns (so a closed pipe is seen here too). Stdout is
/// not held locked: the runtime's threads may write too.
pub fn execute(command: &Command, env: &Environment) -> anyhow::Result<ExitStatus> {
    let mut stdout = std::io::stdout();
    let status = run_command(command, env, &mut stdout);
    let flushed = stdout.flush();
    let status = status?;
    flushed?;
    Ok(status)
}

/// Runs `command` on `stdout`.
fn run_command(
    command: &Command,
    env: &Environment,
    stdout: &mut std::io::Stdout,
) -> anyhow::Result<ExitStatus> {
    Ok(match command {
        Command::Validate(options) => validate::run(options, env, stdout)?,
        Command::Schema => schema::run(stdout).map(|()| ExitStatus::Success)?,
        Command::DeployTemplate(options) => {
            deploy_template::run(options, stdout, &mut std::io::stderr())?
        }
        Command::Run(options) => block_on(run::run(options, env, stdout))?,
        Command::Show(options) => {
            block_on(show::run(options, env, stdout)).map(|()| ExitStatus::Success)?
        }
        Command::Init(options) => block_on(init::run(options, env, stdout))?,
        Command::Backtest(options) => block_on(backtest::run(options, env, stdout))?,
        Command::Chart(options) => block_on(chart::run(options, env, stdout))?,
        Command::Test(options) => block_on(test::run(options, stdout))?,
        Command::Echo(options) => echo::run(options, env, stdout)?,
        Command::Serve(options) => block_on(serve::run(options, env, stdout))?,
        Command::Invoke(invoke::Options::PrintEvent(kind)) => {
            invoke::print_event(*kind, stdout).map(|()| ExitStatus::Success)?
        }
        Command::Invoke(options) => block_on(invoke::run(options, env, stdout))?,
        Command::Completions(shell) => {
            crate::cli::completions(*shell, stdout).map(|()| ExitStatus::Success)?
        }
        Command::Man(dir) => {
            crate::cli::man(dir.as_deref(), stdout).map(|()| ExitStatus::Success)?
        }
    })
}

/// Runs `command` to completion on a multi-threaded tokio runtime.
fn block_on<T>(command: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(command)
}

/// Loads the pipeline at `file` for a command that runs it or reads its state, and prints the
/// warnings `validate` would print to stderr, once. `unset` says whether an unset variable
/// stops it (see `compile::load`).
pub(crate) fn load_pipeline(
    file: &Path,
    env: &Environment,
    unset: UnsetVariables,
) -> Result<Loaded, LoadError> {
    let loaded = load(file, env, unset)?;
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    Ok(loaded)
}
