//! The test file: `<name>.test.yaml` beside the pipeline `<name>.yaml`, holding the pipeline's
//! test cases. Each case plays recorded responses, each at a virtual time, and says what must
//! come of them; an expectation left out is not checked (`dead: []` checks that nothing was
//! dead-lettered). Read once, before anything runs: an unknown key is an error, so a typo cannot
//! turn an expectation off.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The suffix that makes a file a test file: `stocks.test.yaml` tests `stocks.yaml`.
pub const SUFFIX: &str = crate::config::file::TEST_SUFFIX;

/// A test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The variables the pipeline's `${VAR}`s see: only these (the process environment is not
    /// read, so a test runs the same everywhere). An unset one is left unset, as `validate`
    /// does; the source is never requested, so an API key is not needed.
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// The cases, run in order, each on a fresh state directory.
    pub cases: Vec<Case>,
}

/// One case: responses played in order through the whole lifecycle, then its expectations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows, in words; names its snapshot file too.
    pub name: String,
    /// The recorded responses, in order; each is queued and drained before the next.
    pub responses: Vec<Response>,
    /// What must come of them.
    #[serde(default)]
    pub expect: Expect,
}

/// One recorded response of the API, as a poll at `at` would have fetched it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// When it was fetched (RFC 3339): the virtual time its records are fetched, stored
    /// (`inserted_at`) and evaluated at.
    pub at: String,
    /// The body, relative to the test file's directory.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// The body inline: a string is the body's text as is, anything else is sent as JSON.
    #[serde(default)]
    pub body: Option<Value>,
    /// Which of the pipeline's `feeds` it answers, by its values (`{ symbol: IBM }`); default
    /// the first feed (none when the pipeline has no `feeds`).
    #[serde(default)]
    pub feed: Option<Map<String, Value>>,
}

/// What a case expects; each part is checked only when given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The items the store holds at the end, exact (every attribute, `inserted_at` included),
    /// in any order.
    #[serde(default)]
    pub stored: Option<Stored>,
    /// The records dead-lettered, with the reason, in any order.
    #[serde(default)]
    pub dead: Option<Vec<Dead>>,
    /// The alerts raised, in the order of their records' times.
    #[serde(default)]
    pub alerts: Option<Vec<ExpectedAlert>>,
    /// The responses that gave no records, with why (an error body, a body that is not JSON),
    /// in order.
    #[serde(default)]
    pub rejected: Option<Vec<String>>,
}

/// The stored items expected: every item, or those with some values.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stored {
    /// Every item the store holds.
    All(Vec<Map<String, Value>>),
    /// Only the items whose attributes have the values in `where`.
    Some {
        /// Attribute values an item must have to be compared (`{ symbol: INFY }`).
        #[serde(rename = "where")]
        filter: Map<String, Value>,
        /// Those items.
        items: Vec<Map<String, Value>>,
    },
}

/// A dead-lettered record.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dead {
    /// Why it could not be processed.
    pub reason: String,
    /// The record as the source selected it from its response.
    pub record: Value,
}

/// An alert raised.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAlert {
    /// The rule's name.
    pub rule: String,
    /// `fired` or `resolved`.
    pub kind: String,
    /// The series (partition key value).
    pub series: String,
    /// The sort key of the record that raised it.
    pub sort: String,
    /// The record's time, RFC 3339.
    pub at: String,
}

/// Why a test file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// It cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// It is not a valid test file.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Reads and parses the test file at `path`.
pub fn read(path: &Path) -> Result<TestFile, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |message: String| SpecError::Invalid {
        path: path.to_owned(),
        message,
    };
    let file: TestFile = serde_saphyr::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if file.cases.is_empty() {
        return Err(invalid(
            "`cases` is empty: give at least one case".to_owned(),
        ));
    }
    let mut names = std::collections::HashSet::new();
    for case in &file.cases {
        if !names.insert(snapshot_name(&case.name)) {
            return Err(invalid(format!(
                "two cases are named `{}` (or alike): each case needs a name of its own",
                case.name
            )));
        }
        if case.responses.is_empty() {
            return Err(invalid(format!(
                "case `{}` has no `responses`: give at least one",
                case.name
            )));
        }
        for response in &case.responses {
            response
                .time()
                .map_err(|e| invalid(format!("case `{}`: {e}", case.name)))?;
            if response.file.is_some() == response.body.is_some() {
                return Err(invalid(format!(
                    "case `{}`: a response at {} needs either `file` or `body`",
                    case.name, response.at
                )));
            }
        }
    }
    Ok(file)
}

impl Response {
    /// [`Response::at`] parsed.
    pub fn time(&self) -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(&self.at)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|e| {
                format!(
                    "`at: {}` is not an RFC 3339 time such as 2024-03-18T10:30:00Z ({e})",
                    self.at
                )
            })
    }

    /// The body's bytes; a `file` is read relative to `dir`.
    pub fn bytes(&self, dir: &Path) -> Result<Vec<u8>, String> {
        match (&self.file, &self.body) {
            (Some(file), _) => {
                let path = dir.join(file);
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
            }
            (None, Some(Value::String(text))) => Ok(text.clone().into_bytes()),
            (None, Some(value)) => Ok(value.to_string().into_bytes()),
            (None, None) => Err("a response needs `file` or `body`".to_owned()),
        }
    }
}

/// The test file of the pipeline at `pipeline` (`stocks.yaml` → `stocks.test.yaml`), or the
/// pipeline of the test file at `test` (the other way), when `path` is one.
pub fn pipeline_of(test: &Path) -> Option<PathBuf> {
    let name = test.file_name()?.to_str()?;
    let stem = name.strip_suffix(SUFFIX)?;
    Some(test.with_file_name(format!("{stem}.yaml")))
}

/// The test file beside the pipeline at `pipeline`.
pub fn test_of(pipeline: &Path) -> Option<PathBuf> {
    let name = pipeline.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))?;
    Some(pipeline.with_file_name(format!("{stem}{SUFFIX}")))
}

/// A case's name as a file name: lower case letters and digits, other runs as one `-`.
pub fn snapshot_name(case: &str) -> String {
    let mut name = String::with_capacity(case.len());
    for c in case.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    name.trim_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_file_and_its_pipeline_name_each_other() {
        let test = Path::new("examples/demo.test.yaml");
        assert_eq!(pipeline_of(test), Some(PathBuf::from("examples/demo.yaml")));
        assert_eq!(
            test_of(Path::new("examples/demo.yaml")),
            Some(test.to_owned())
        );
        assert_eq!(pipeline_of(Path::new("examples/demo.yaml")), None);
    }

    #[test]
    fn a_case_name_becomes_a_plain_file_name() {
        assert_eq!(
            snapshot_name("INFY jumps 3 %: big_move fires"),
            "infy-jumps-3-big-move-fires"
        );
    }
}
