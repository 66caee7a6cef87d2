//! From a pipeline file to the parts that run it, in one path for `validate` and every command
//! that runs a pipeline: the config-level checks (`crate::config::load`: YAML, environment,
//! names, limits, keys, addresses, secrets, template scopes), then each stage's own constructor
//! on its section — the source ([`CompiledSource`]: URL, headers, cron, JSONPaths), the processor
//! ([`Processor`]: field JSONPaths, timestamp formats, time zones, key templates) and the e-mail
//! templates ([`Templates`]), and the alert rules ([`Rules`]: conditions, timing, templates) —
//! whose errors are `validate`'s diagnostics. A rule lives in the
//! constructor that needs it, and what `validate` built is what runs.
//!
//! Constructors work on the sections that parsed, so a broken `queue` section does not hide the
//! problems of `process`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::alert::rules::Rules;
use crate::config::Pipeline;
use crate::config::env::{Environment, find_references};
use crate::config::file::{self, ReadError};
use crate::config::load::{self, Sections, UnsetVariables};
use crate::diag::Diagnostic;
use crate::notify::render::{Templates, addresses};
use crate::process::Processor;
use crate::redact::Redactor;
use crate::source::{self, CompiledSource, Poller, Schedule, SourceError};

/// The outcome of checking one pipeline file.
#[derive(Debug)]
pub struct Checked {
    /// The pipeline and its compiled parts, when the file has no errors.
    pub compiled: Option<Compiled>,
    /// Every problem found, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

/// A pipeline with no errors, and the stage parts built from it.
pub struct Compiled {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// Record → typed fields and key.
    pub processor: Processor,
    /// The digest templates, when the pipeline sends e-mail.
    pub templates: Option<Templates>,
    /// The requests, JSONPaths and schedule of the source; `None` only when `source.url` holds
    /// an unset `${VAR}` that keeps it from parsing (never for a command that polls: an unset
    /// variable is an error there).
    pub source: Option<CompiledSource>,
    /// `source.schedule` with its zone and active windows, parsed apart from the URL so that an
    /// unset variable there does not keep it from `deploy-template`.
    pub schedule: Schedule,
    /// The compiled alert rules, when `notify.rules` has any.
    pub rules: Option<Arc<Rules>>,
}

/// Only the pipeline's name: the parts hold header values and URLs, which may be secrets.
impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("pipeline", &self.pipeline.name.value)
            .finish_non_exhaustive()
    }
}

/// Checks a pipeline from the bytes of a file and, when it has no errors, builds its parts.
pub fn check(bytes: &[u8], env: &Environment, unset: UnsetVariables) -> Checked {
    let parsed = load::parse(bytes, env, unset);
    let (parts, found) = build(&parsed.sections);
    let checked = parsed.finish(found);
    let compiled = match (checked.pipeline, parts.processor, parts.schedule) {
        (Some(pipeline), Some(processor), Some(schedule))
            if parts.templates.is_some() == pipeline.notify.is_some()
                && parts.rules.is_some()
                    == pipeline
                        .notify
                        .as_ref()
                        .is_some_and(|n| !n.rules.is_empty()) =>
        {
            Some(Compiled {
                pipeline,
                processor,
                templates: parts.templates,
                source: parts.source,
                schedule,
                rules: parts.rules,
            })
        }
        _ => None,
    };
    Checked {
        compiled,
        diagnostics: checked.diagnostics,
    }
}

/// What the stage constructors built from the sections that parsed.
struct Parts {
    processor: Option<Processor>,
    templates: Option<Templates>,
    source: Option<CompiledSource>,
    schedule: Option<Schedule>,
    rules: Option<Arc<Rules>>,
}

/// Runs each stage's constructor on the sections it needs, collecting what they report.
fn build(sections: &Sections) -> (Parts, Vec<Diagnostic>) {
    let mut found = Vec::new();
    let name = sections.name.as_ref().map_or("", |name| name.as_str());
    let feeds = sections.feeds.as_deref();
    // The schedule on its own: an unset variable in the URL must not keep it from deploy.
    let schedule = sections.source.as_ref().and_then(|source| {
        Schedule::new(source)
            .map_err(|problems| found.extend(problems))
            .ok()
    });
    let source = sections.source.as_ref().and_then(|source| {
        if let Some(schedule) = &schedule {
            found.extend(source::warnings(source, schedule, feeds));
        }
        CompiledSource::new(source, schedule.clone(), feeds)
            .map_err(|problems| found.extend(problems))
            .ok()
    });
    // The source sends with each record what the fields take from its response.
    let source = match (source, &sections.process) {
        (Some(source), Some(process)) => Some(source.with_context(&source::Context {
            member_name: process.uses_member_name(),
            root: process.root_paths(),
        })),
        (source, _) => source,
    };
    let processor = match (&sections.process, &sections.store) {
        (Some(process), Some(store)) => Processor::new(name, process, &store.key)
            .map_err(|problems| found.extend(problems))
            .ok(),
        (Some(process), None) => {
            found.extend(Processor::check_fields(process));
            None
        }
        _ => None,
    };
    // Templates are compiled with the fields their records have.
    let templates = match (&sections.notify, &sections.process) {
        (Some(Some(notify)), Some(process)) => {
            let fields = process.fields.keys().cloned().collect();
            Templates::new(notify, fields, name)
                .map_err(|problems| found.extend(problems))
                .ok()
        }
        // Without fields to compile the templates with, the addresses are still checked.
        (Some(Some(notify)), None) => {
            if let Err(problems) = addresses(notify) {
                found.extend(problems);
            }
            None
        }
        _ => None,
    };
    // Alert rules need the fields (their types) and the key (the time field).
    let rules = match (&sections.notify, &sections.process, &sections.store) {
        (Some(Some(notify)), Some(process), Some(store)) if !notify.rules.is_empty() => {
            match Rules::new(notify, process, store, name) {
                Ok((rules, warnings)) => {
                    found.extend(warnings);
                    Some(Arc::new(rules))
                }
                Err(problems) => {
                    found.extend(problems);
                    None
                }
            }
        }
        _ => None,
    };
    let parts = Parts {
        processor,
        templates,
        source,
        schedule,
        rules,
    };
    (parts, found)
}

/// A pipeline ready to run: checked as `validate` checks it, with its parts built.
pub struct Loaded {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// Record → typed fields and key.
    pub processor: Processor,
    /// The digest templates, when the pipeline sends e-mail.
    pub templates: Option<Templates>,
    /// The compiled source (see [`Compiled::source`]); [`Loaded::poller`] builds on it.
    source: Option<CompiledSource>,
    /// `source.schedule`, parsed once (see [`Compiled::schedule`]).
    pub schedule: Schedule,
    /// The compiled alert rules, when `notify.rules` has any (see [`Compiled::rules`]).
    pub rules: Option<Arc<Rules>>,
    /// The file it came from.
    pub file: PathBuf,
    /// The file's directory: relative `file:` source URLs resolve against it.
    pub base_dir: PathBuf,
    /// Hides every secret the pipeline holds.
    pub redactor: Redactor,
    /// Warnings `validate` would print (shown once at start).
    pub warnings: Vec<String>,
}

/// Why a pipeline cannot run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The pipeline has errors; `report` is every diagnostic, rendered as `validate` does.
    #[error("{report}")]
    Invalid {
        /// The rendered diagnostics and a summary line.
        report: String,
    },
}

/// Reads, checks and builds the pipeline at `file` with the variables in `env`. `unset` says
/// whether an unset variable stops it: it does for commands that poll (the API needs its key),
/// not for `consume` or `show`, which never call the API.
pub fn load(file: &Path, env: &Environment, unset: UnsetVariables) -> Result<Loaded, LoadError> {
    let bytes = file::read(file)?;
    load_bytes(file, &bytes, env, unset)
}

/// [`load`] of a file already read (`bytes`, through [`file::read`]), for a command that needs
/// its text too (`deploy-template`), so the file is read once.
pub fn load_bytes(
    file: &Path,
    bytes: &[u8],
    env: &Environment,
    unset: UnsetVariables,
) -> Result<Loaded, LoadError> {
    let name = file.display().to_string();
    let checked = check(bytes, env, unset);
    let text = String::from_utf8_lossy(bytes);
    let Some(compiled) = checked.compiled else {
        return Err(LoadError::Invalid {
            report: file::cannot_run_report(&name, &text, &checked.diagnostics),
        });
    };
    let warnings = checked
        .diagnostics
        .iter()
        .map(|d| d.render(&name, &text))
        .collect();
    let redactor = redactor_for(&text, env);
    crate::redact::register(&redactor);
    Ok(Loaded {
        pipeline: compiled.pipeline,
        processor: compiled.processor,
        templates: compiled.templates,
        source: compiled.source,
        schedule: compiled.schedule,
        rules: compiled.rules,
        file: file.to_owned(),
        base_dir: file::base_dir(file),
        redactor,
        warnings,
    })
}

/// The pipeline's name, file and warnings: the parts hold header values and URLs, which may be
/// secrets.
impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("pipeline", &self.pipeline.name.value)
            .field("file", &self.file)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl Loaded {
    /// The compiled source (see [`Compiled::source`]): what splits a response into messages,
    /// for `stockrun test`, which plays recorded responses instead of polling.
    pub fn source(&self) -> Option<&CompiledSource> {
        self.source.as_ref()
    }

    /// The poller of this pipeline, built on the source `validate` checked.
    pub fn poller(&self) -> Result<Poller, SourceError> {
        let source = self.source.clone().ok_or_else(|| {
            SourceError(
                "`source.url` holds an unset `${…}` variable: set it to poll (`stockrun validate` warns about it)"
                    .to_owned(),
            )
        })?;
        Poller::new(
            &self.pipeline.name,
            source,
            &self.base_dir,
            self.redactor.clone(),
        )
    }
}

/// Every value the environment put into the file. The poller adds the values of headers and
/// query parameters whose names say they are credentials (a key written in the file).
fn redactor_for(text: &str, env: &Environment) -> Redactor {
    Redactor::new(env.secrets_in(&find_references(text)))
}
