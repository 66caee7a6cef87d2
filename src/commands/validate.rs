//! `stockrun validate FILE...`: check pipeline files and print every problem in every file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Format;
use crate::compile::check;
use crate::config;
use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::diag::{Diagnostic, Tally};
use crate::exit::ExitStatus;

/// What `validate` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The files to check.
    pub files: Vec<PathBuf>,
    /// Output format.
    pub format: Format,
    /// Count warnings as errors.
    pub deny_warnings: bool,
}

/// One file's result.
#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    valid: bool,
    diagnostics: Vec<Diagnostic>,
    #[serde(skip)]
    source: String,
}

/// Checks every file and prints the report to `out`: success when all files are valid, else
/// `Invalid` (a file that cannot be read is an error of that file).
pub fn run(
    options: &Options,
    env: &Environment,
    out: &mut impl Write,
) -> std::io::Result<ExitStatus> {
    let reports: Vec<FileReport> = options.files.iter().map(|f| check_file(f, env)).collect();
    let mut tally = Tally::default();
    for report in &reports {
        tally.add(&report.diagnostics);
    }
    let ok = tally.errors == 0 && (!options.deny_warnings || tally.warnings == 0);
    match options.format {
        Format::Text => print_text(&reports, tally, ok, out)?,
        Format::Json => {
            let json = serde_json::json!({ "valid": ok, "summary": tally, "files": reports });
            serde_json::to_writer_pretty(&mut *out, &json)?;
            writeln!(out)?;
        }
    }
    Ok(ExitStatus::success_or(ok, ExitStatus::Invalid))
}

fn check_file(path: &Path, env: &Environment) -> FileReport {
    let file = path.display().to_string();
    match config::file::read(path) {
        Ok(bytes) => {
            let checked = check(&bytes, env, UnsetVariables::Warn);
            FileReport {
                file,
                valid: !checked.diagnostics.iter().any(Diagnostic::is_error),
                diagnostics: checked.diagnostics,
                source: String::from_utf8_lossy(&bytes).into_owned(),
            }
        }
        Err(err) => FileReport {
            file,
            valid: false,
            diagnostics: vec![
                Diagnostic::error(
                    Default::default(),
                    format!("cannot read the file: {}", err.source),
                )
                .help("check the path; `stockrun validate *.yaml` checks every pipeline file here"),
            ],
            source: String::new(),
        },
    }
}

fn print_text(
    reports: &[FileReport],
    tally: Tally,
    ok: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    for report in reports {
        for diagnostic in &report.diagnostics {
            writeln!(out, "{}", diagnostic.render(&report.file, &report.source))?;
        }
    }
    let files = match reports.len() {
        1 => "1 file".to_owned(),
        n => format!("{n} files"),
    };
    let verdict = if ok { "ok" } else { "invalid" };
    writeln!(out, "{verdict}: checked {files}: {tally}")
}
