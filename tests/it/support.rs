//! Runs the `stockrun` binary the way a user does, with a clean environment.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one run of the binary printed and returned.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The repository root (tests run from it, so paths in output are relative and stable).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `stockrun ARGS` in the repository root with only `vars` in the environment.
pub fn stockrun(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_stockrun"))
        .args(args)
        .current_dir(root())
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("the stockrun binary runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The pipeline files in `dir` (relative to the root), sorted, as root-relative paths: every
/// `.yaml` but the test files beside them (`*.test.yaml`, which `stockrun test` reads).
pub fn yaml_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .filter(|path| !path.to_string_lossy().ends_with(".test.yaml"))
        .map(|path| relative(&path))
        .collect();
    files.sort();
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Fails with the whole output when `output` does not contain `needle`.
#[track_caller]
pub fn assert_contains(output: &str, needle: &str) {
    assert!(output.contains(needle), "expected `{needle}` in:\n{output}");
}

/// The pipeline in `yaml`, checked as `validate` checks the config (environment empty); panics
/// with the diagnostics when it is invalid (a test's own pipeline must be valid).
pub fn parse_pipeline(yaml: &str) -> stockrun::config::Pipeline {
    let checked = stockrun::config::load::check(
        yaml.as_bytes(),
        &stockrun::config::env::Environment::default(),
        stockrun::config::load::UnsetVariables::Deny,
    );
    checked
        .pipeline
        .unwrap_or_else(|| panic!("invalid pipeline {:#?}\n{yaml}", checked.diagnostics))
}
