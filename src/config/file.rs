//! A pipeline file on disk: reading it, the directory its relative paths resolve against, the
//! pipeline files of a directory, and the report shown when it cannot run.

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

/// The suffix of a test file (`stockrun test`): `stocks.test.yaml` tests `stocks.yaml`.
pub const TEST_SUFFIX: &str = ".test.yaml";

/// Suffixes of YAML files that sit beside pipelines but are not pipelines: test files, and the
/// CloudFormation templates `deploy-template` writes (`stocks.cfn.yaml`, as its help suggests).
const NOT_PIPELINES: [&str; 3] = [TEST_SUFFIX, ".cfn.yaml", ".cfn.yml"];

/// Whether the file name `name` is a pipeline's: `*.yaml` or `*.yml`, not hidden (editors' swap
/// and backup files start with a dot) and none of [`NOT_PIPELINES`].
pub fn is_pipeline_name(name: &str) -> bool {
    (name.ends_with(".yaml") || name.ends_with(".yml"))
        && !name.starts_with('.')
        && !NOT_PIPELINES.iter().any(|suffix| name.ends_with(suffix))
}

/// The pipeline files directly in `dir` (see [`is_pipeline_name`]; subdirectories are not
/// entered), sorted by name.
pub fn pipelines_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let named = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(is_pipeline_name);
        if named && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelines_are_yaml_files_but_test_files_templates_and_hidden_files() {
        for name in ["stocks.yaml", "daily.yml", "a.b.yaml"] {
            assert!(is_pipeline_name(name), "{name}");
        }
        for name in [
            "stocks.test.yaml",
            "stocks.cfn.yaml",
            ".stocks.yaml",
            "stocks.yaml~",
            "stocks.json",
            "README.md",
        ] {
            assert!(!is_pipeline_name(name), "{name}");
        }
    }

    #[test]
    fn a_directory_s_pipelines_are_listed_sorted_without_entering_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.yaml", "a.yaml", "a.test.yaml", "notes.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("c.yaml")).unwrap();
        let found = pipelines_in(dir.path()).unwrap();
        assert_eq!(
            found,
            [dir.path().join("a.yaml"), dir.path().join("b.yaml")]
        );
    }
}
