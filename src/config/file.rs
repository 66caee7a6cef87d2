//! A pipeline file on disk: reading it, the directory its relative paths resolve against, and
//! the report shown when it cannot run.

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Tally};

/// Why a pipeline file cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {file}: {source}")]
pub struct ReadError {
    /// The path given.
    pub file: String,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// The bytes of the pipeline file at `path`.
pub fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    std::fs::read(path).map_err(|source| ReadError {
        file: path.display().to_string(),
        source,
    })
}

/// The directory of the pipeline file at `path` (`.` for a bare file name): relative `file:`
/// source URLs resolve against it.
pub fn base_dir(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned()
}

/// Every diagnostic of the file `name` (whose text is `text`) rendered as `validate` prints it,
/// and a last line saying the pipeline cannot run.
pub fn cannot_run_report(name: &str, text: &str, diagnostics: &[Diagnostic]) -> String {
    let mut tally = Tally::default();
    tally.add(diagnostics);
    let mut report: Vec<String> = diagnostics.iter().map(|d| d.render(name, text)).collect();
    report.push(format!(
        "{name} cannot run: {tally} (`stockrun validate {name}` shows the same)"
    ));
    report.join("\n")
}
