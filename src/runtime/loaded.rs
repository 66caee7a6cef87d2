//! Loading a pipeline to run it: the same checks as `validate`, except that an unset environment
//! variable can be an error (an API cannot be called without its key), and the secrets the file
//! brings in are collected so nothing shows them.

use std::path::{Path, PathBuf};

use crate::config::Pipeline;
use crate::config::env::{Environment, find_references};
use crate::config::load::{UnsetVariables, check};
use crate::diag::{Diagnostic, Tally};
use crate::redact::Redactor;

/// A pipeline ready to run.
#[derive(Debug)]
pub struct Loaded {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The file it came from.
    pub file: PathBuf,
    /// The file's directory: relative `file:` source URLs resolve against it.
    pub base_dir: PathBuf,
    /// Hides every secret the pipeline holds (also registered with the process, for the log).
    pub redactor: Redactor,
    /// Warnings `validate` would print (shown once at start).
    pub warnings: Vec<String>,
}

/// Why a pipeline cannot run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("cannot read {file}: {source}")]
    Read {
        /// The path given.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The pipeline has errors; `report` is every diagnostic, rendered as `validate` does.
    #[error("{report}")]
    Invalid {
        /// The rendered diagnostics and a summary line.
        report: String,
    },
}

/// Reads and checks the pipeline at `file` with the variables in `env`. `unset` says whether an
/// unset variable stops it: it does for commands that poll (the API needs its key), not for
/// `consume` or `show`, which never call the API.
pub fn load(file: &Path, env: &Environment, unset: UnsetVariables) -> Result<Loaded, LoadError> {
    let name = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|source| LoadError::Read {
        file: name.clone(),
        source,
    })?;
    let checked = check(&bytes, env, unset);
    let text = String::from_utf8_lossy(&bytes);
    let render = |d: &Diagnostic| d.render(&name, &text);
    let Some(pipeline) = checked
        .pipeline
        .filter(|_| !checked.diagnostics.iter().any(Diagnostic::is_error))
    else {
        let mut tally = Tally::default();
        tally.add(&checked.diagnostics);
        let mut report: Vec<String> = checked.diagnostics.iter().map(render).collect();
        report.push(format!(
            "{name} cannot run: {tally} (`stockrun validate {name}` shows the same)"
        ));
        return Err(LoadError::Invalid {
            report: report.join("\n"),
        });
    };
    let redactor = redactor_for(&text, env);
    // From here on no log line shows them (`crate::logging`).
    crate::redact::register(&redactor);
    let warnings = checked.diagnostics.iter().map(render).collect();
    Ok(Loaded {
        base_dir: file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned(),
        file: file.to_owned(),
        pipeline,
        redactor,
        warnings,
    })
}

/// Every value the environment put into the file. The poller adds the values of headers and
/// query parameters whose names say they are credentials (a key written in the file).
fn redactor_for(text: &str, env: &Environment) -> Redactor {
    Redactor::new(env.secrets_in(&find_references(text)))
}
