//! `stockrun test [FILE...]`: runs the test cases beside pipelines (`<name>.test.yaml` next to
//! `<name>.yaml`, read by `spec`). Each case plays recorded responses at virtual times through
//! the real lifecycle on a throwaway embedded backend (`harness`), then compares the stored
//! items, dead letters, alerts and rejected responses with its expectations and its e-mails with
//! a snapshot file (`compare`). Offline: no network, no AWS, no process environment. Exit 0 when
//! every case passes, 1 with a diff per failing case.

mod compare;
mod harness;
mod spec;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Format;
use crate::compile::{LoadError, load};
use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::exit::ExitStatus;

use compare::{Mismatch, Snapshot};

/// What `test` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Test files, pipelines (their test file beside them) or directories (their `*.test.yaml`);
    /// none: the current directory.
    pub files: Vec<PathBuf>,
    /// Write the e-mail snapshots that are missing or differ instead of failing on them.
    pub update: bool,
    /// Output format.
    pub format: Format,
}

/// Every test file's result.
#[derive(Debug, Serialize)]
struct Report {
    passed: usize,
    failed: usize,
    files: Vec<FileReport>,
}

/// One test file's result: an error when it could not be run at all, else its cases.
#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    pipeline: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    cases: Vec<CaseReport>,
}

/// One case's result.
#[derive(Debug, Serialize)]
struct CaseReport {
    name: String,
    passed: bool,
    /// Why it could not run (a response file missing, the store failing).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    snapshot: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot_status: Option<Snapshot>,
    mismatches: Vec<Mismatch>,
}

/// Runs the test files `options` names and prints the report to `out`.
pub async fn run(options: &Options, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let mut report = Report {
        passed: 0,
        failed: 0,
        files: Vec::new(),
    };
    for found in test_files(&options.files) {
        let result = match found {
            Ok(file) => run_file(&file, options.update).await,
            Err((given, error)) => FileReport {
                file: given.display().to_string(),
                pipeline: String::new(),
                error: Some(error),
                cases: Vec::new(),
            },
        };
        for case in &result.cases {
            if case.passed {
                report.passed += 1;
            } else {
                report.failed += 1;
            }
        }
        if result.error.is_some() {
            report.failed += 1;
        }
        report.files.push(result);
    }
    match options.format {
        Format::Text => print_text(&report, out)?,
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
    }
    Ok(ExitStatus::success_or(
        report.failed == 0,
        ExitStatus::Invalid,
    ))
}

/// The test files `given` names (see [`Options::files`]), in order; a path that names none is
/// an error (the path and why), reported as a failed file.
fn test_files(given: &[PathBuf]) -> Vec<Result<PathBuf, (PathBuf, String)>> {
    let given = if given.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        given.to_vec()
    };
    let mut files = Vec::new();
    for path in given {
        if path.is_dir() {
            let entries = match std::fs::read_dir(&path) {
                Ok(entries) => entries,
                Err(e) => {
                    files.push(Err((path, format!("cannot read the directory: {e}"))));
                    continue;
                }
            };
            let mut found: Vec<PathBuf> = entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| spec::pipeline_of(p).is_some() && p.is_file())
                .collect();
            found.sort();
            if found.is_empty() {
                files.push(Err((path, format!("no `*{}` files in it", spec::SUFFIX))));
            }
            files.extend(found.into_iter().map(Ok));
        } else if spec::pipeline_of(&path).is_some() {
            files.push(Ok(path));
        } else {
            match spec::test_of(&path).filter(|t| t.is_file()) {
                Some(test) => files.push(Ok(test)),
                None => files.push(Err((
                    path,
                    format!(
                        "neither a test file (`*{}`) nor a pipeline with one beside it",
                        spec::SUFFIX
                    ),
                ))),
            }
        }
    }
    files
}

/// Runs every case of the test file `file`.
async fn run_file(file: &Path, update: bool) -> FileReport {
    let pipeline_file = spec::pipeline_of(file).unwrap_or_default();
    let mut report = FileReport {
        file: file.display().to_string(),
        pipeline: pipeline_file.display().to_string(),
        error: None,
        cases: Vec::new(),
    };
    let spec = match spec::read(file) {
        Ok(spec) => spec,
        Err(error) => {
            report.error = Some(error.to_string());
            return report;
        }
    };
    let env = Environment::from_pairs(spec.env.clone());
    let loaded = match load(&pipeline_file, &env, UnsetVariables::Warn) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid {
            report: diagnostics,
        }) => {
            report.error = Some(diagnostics);
            return report;
        }
        Err(error) => {
            report.error = Some(error.to_string());
            return report;
        }
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    for case in &spec.cases {
        let snapshot = snapshot_path(file, &case.name);
        let mut result = CaseReport {
            name: case.name.clone(),
            passed: false,
            error: None,
            snapshot: snapshot.display().to_string(),
            snapshot_status: None,
            mismatches: Vec::new(),
        };
        match harness::run_case(&loaded, case, dir).await {
            Err(error) => result.error = Some(error),
            Ok(observed) => {
                result.mismatches = compare::expectations(&case.expect, &observed);
                let (status, mismatch) = compare::snapshot(&snapshot, &observed, update);
                result.snapshot_status = Some(status);
                result.mismatches.extend(mismatch);
                result.passed = result.mismatches.is_empty();
            }
        }
        report.cases.push(result);
    }
    report
}

/// Where a case's e-mail snapshot lives: `<name>.snapshots/<case>.txt` beside the test file.
fn snapshot_path(file: &Path, case: &str) -> PathBuf {
    let stem = spec::pipeline_of(file)
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    file.with_file_name(format!("{stem}.snapshots"))
        .join(format!("{}.txt", spec::snapshot_name(case)))
}

fn print_text(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    for file in &report.files {
        if file.pipeline.is_empty() {
            writeln!(out, "{}", file.file)?;
        } else {
            writeln!(out, "{} ({})", file.file, file.pipeline)?;
        }
        if let Some(error) = &file.error {
            writeln!(out, "  ERROR {}", indent(error, "        ").trim_start())?;
        }
        for case in &file.cases {
            let mark = if case.passed { "ok  " } else { "FAIL" };
            let note = match case.snapshot_status {
                Some(Snapshot::Written) => format!(" (snapshot written: {})", case.snapshot),
                _ => String::new(),
            };
            writeln!(out, "  {mark}  {}{note}", case.name)?;
            if let Some(error) = &case.error {
                writeln!(out, "        could not run: {error}")?;
            }
            for mismatch in &case.mismatches {
                writeln!(out, "        {} (-expected +actual):", mismatch.what)?;
                writeln!(out, "{}", indent(&mismatch.diff, "          "))?;
            }
        }
    }
    let verdict = if report.failed == 0 { "ok" } else { "FAILED" };
    writeln!(
        out,
        "test result: {verdict}. {} passed, {} failed ({} file{})",
        report.passed,
        report.failed,
        report.files.len(),
        if report.files.len() == 1 { "" } else { "s" }
    )
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
