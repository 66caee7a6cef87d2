//! The exit status of the command line, and how an error that ends a command maps to one.
//!
//! | status | meaning | cases |
//! |---|---|---|
//! | 0 | success | the command did its job; also when its output is cut short by a closed pipe (`stockrun show FILE \| head`): a broken pipe anywhere in an error's chain is success, as in ripgrep |
//! | 1 | the pipeline is invalid | `validate` found an error (or a warning, with `--deny-warnings`); any other command given a pipeline `validate` rejects, including an unset `${VAR}` where the command calls the API; a pipeline file that cannot be read (`validate` reports it as an error of that file, so the other commands agree with it); `deploy-template` on a pipeline the template cannot own; `run` with several pipelines when any is invalid or two share their state (nothing starts) |
//! | 2 | usage error | what clap refuses (unknown option, missing or bad argument); an option the pipeline or backend rules out: `--visibility-timeout` within the batch window, an unknown `show --columns` name, a `deploy-template` option value Lambda or Secrets Manager refuses |
//! | 3 | failure at run time | `run --once`/`poll --once` whose every request failed or whose records could not be queued; `run --once`/`consume --once` whose digest e-mail was not sent (its records are stored); `run`/`consume` (with or without `--once`) stopped by a queue or store that kept failing, or at once on a damaged state file or a full disk; AWS unreachable or refusing; `show` with no local state; `init` finding a table with another key; stdout failing for another reason than a closed pipe; anything else not listed above |
//!
//! `run` with several pipelines exits with the worst (highest) status of its pipelines.
//!
//! The Lambda mode has its own status (1 when the container cannot start), set in
//! `runtime::lambda`.

use std::process::ExitCode;

use crate::compile::LoadError;
use crate::runtime::backend::BackendError;

/// How `stockrun` exits; the documented numbers are in the module doc, `--help` and README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: the command did its job.
    Success,
    /// 1: the pipeline is invalid (or cannot be read).
    Invalid,
    /// 2: the command line is wrong.
    Usage,
    /// 3: something failed at run time: the source, queue, store, e-mail or AWS.
    Failure,
}

/// A command-line value found wrong only once the pipeline is read (exit 2), such as a
/// `show --columns` name the table does not have; the message says what is accepted.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Invalid => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Failure => 3,
        }
    }

    /// Success when `success`, else `failure`.
    pub fn success_or(success: bool, failure: ExitStatus) -> ExitStatus {
        if success {
            ExitStatus::Success
        } else {
            failure
        }
    }

    /// The status of a command that ended with `error`: the first cause in its chain that says
    /// what went wrong decides; an error nothing classifies is a failure at run time.
    pub fn of_error(error: &anyhow::Error) -> ExitStatus {
        if is_broken_pipe(error) {
            return ExitStatus::Success;
        }
        for cause in error.chain() {
            if cause.downcast_ref::<LoadError>().is_some() {
                return ExitStatus::Invalid;
            }
            if cause.downcast_ref::<UsageError>().is_some() {
                return ExitStatus::Usage;
            }
            if let Some(backend) = cause.downcast_ref::<BackendError>() {
                return match backend {
                    BackendError::VisibilityTooShort { .. } => ExitStatus::Usage,
                    BackendError::Queue(_)
                    | BackendError::Store(_)
                    | BackendError::NoState { .. }
                    | BackendError::AwsSetup(_) => ExitStatus::Failure,
                };
            }
        }
        ExitStatus::Failure
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

/// Whether `error` comes from writing to a pipe whose reader has gone (`| head`). Rust ignores
/// SIGPIPE, so such a write fails with `EPIPE` instead of ending the process.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, `outer: inner: …`, leaving out a cause whose text the
/// message before it already includes (many errors print their source in their own message).
pub fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

/// What stderr says about `error`: `stockrun: error: …`, except for a pipeline with errors, whose
/// report (each diagnostic already `file:line:col: error: …`, then a line saying the file cannot
/// run) is printed as it is, so no line carries two prefixes.
fn message(error: &anyhow::Error) -> String {
    let report = error
        .chain()
        .find_map(|cause| match cause.downcast_ref::<LoadError>() {
            Some(LoadError::Invalid { report }) => Some(report.clone()),
            _ => None,
        });
    report.unwrap_or_else(|| format!("stockrun: error: {}", describe(error)))
}

/// The status of a finished command; an error is printed to stderr (see [`message`]), except a
/// closed pipe, which ends the command quietly.
pub fn report(result: anyhow::Result<ExitStatus>) -> ExitStatus {
    match result {
        Ok(status) => status,
        Err(error) => {
            let status = ExitStatus::of_error(&error);
            if status != ExitStatus::Success {
                eprintln!("{}", crate::redact::redact_registered(&message(&error)));
            }
            status
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::config::file::ReadError;
    use anyhow::Context as _;

    use super::*;

    #[test]
    fn the_codes_are_the_documented_ones() {
        let codes: Vec<u8> = [
            ExitStatus::Success,
            ExitStatus::Invalid,
            ExitStatus::Usage,
            ExitStatus::Failure,
        ]
        .map(ExitStatus::code)
        .to_vec();
        assert_eq!(codes, [0, 1, 2, 3]);
    }

    #[test]
    fn a_broken_pipe_anywhere_in_the_chain_is_success() {
        let error = anyhow::Error::from(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("cannot print the table")
            .context("show");
        assert!(is_broken_pipe(&error));
        assert_eq!(ExitStatus::of_error(&error), ExitStatus::Success);
        assert_eq!(report(Err(error)), ExitStatus::Success);
    }

    #[test]
    fn other_io_errors_are_failures() {
        let error = anyhow::Error::from(io::Error::other("disk full"));
        assert!(!is_broken_pipe(&error));
        assert_eq!(ExitStatus::of_error(&error), ExitStatus::Failure);
    }

    #[test]
    fn a_pipeline_that_cannot_load_is_invalid() {
        let invalid = LoadError::Invalid {
            report: "p.yaml cannot run".to_owned(),
        };
        let unreadable = LoadError::Read(ReadError {
            file: "p.yaml".to_owned(),
            source: io::Error::from(io::ErrorKind::NotFound),
        });
        for error in [invalid, unreadable] {
            let error = Err::<(), _>(error).context("run").unwrap_err();
            assert_eq!(ExitStatus::of_error(&error), ExitStatus::Invalid);
        }
    }

    #[test]
    fn options_the_pipeline_rules_out_are_usage_errors_and_missing_state_a_failure() {
        let short = BackendError::VisibilityTooShort {
            visibility: Duration::from_secs(1),
            window: Duration::from_secs(1),
        };
        assert_eq!(
            ExitStatus::of_error(&short.into()),
            ExitStatus::Usage,
            "--visibility-timeout"
        );
        let none = BackendError::NoState {
            pipeline: "p".to_owned(),
            database: PathBuf::from("p.db"),
        };
        assert_eq!(ExitStatus::of_error(&none.into()), ExitStatus::Failure);
        let columns = UsageError("unknown column".to_owned());
        assert_eq!(ExitStatus::of_error(&columns.into()), ExitStatus::Usage);
    }

    #[test]
    fn an_invalid_pipeline_is_reported_without_a_second_prefix() {
        let invalid = anyhow::Error::from(LoadError::Invalid {
            report: "p.yaml:1:1: error: bad\np.yaml cannot run".to_owned(),
        });
        assert_eq!(
            message(&invalid),
            "p.yaml:1:1: error: bad\np.yaml cannot run"
        );
        let other = anyhow::Error::msg("queue down");
        assert_eq!(message(&other), "stockrun: error: queue down");
    }

    #[test]
    fn the_description_leaves_out_causes_already_in_the_message() {
        let error = anyhow::Error::from(LoadError::Read(ReadError {
            file: "p.yaml".to_owned(),
            source: io::Error::other("no such file"),
        }))
        .context("cannot start");
        assert_eq!(
            describe(&error),
            "cannot start: cannot read p.yaml: no such file"
        );
    }
}
