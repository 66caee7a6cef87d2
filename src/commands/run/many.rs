//! `stockrun run` with several pipelines in one process: a directory (its pipeline files,
//! `config::file::pipelines_in`), several files, or `--watch`. Every file is loaded first, and
//! when any has an error, or two pipelines would share their state (the same name; on AWS the
//! same queue or table), nothing starts and every error is printed, as a compiler does.
//!
//! Then each pipeline runs as its own task in a `pipeline{name=…}` log span, through the same
//! [`drive`] and [`outcome`] as a single `run`, on its own state (database file, queue, table,
//! named by `crate::naming`) and its own stop token, a child of the process's: a signal stops
//! them all; a pipeline that fails for good (its queue or store) stops alone, is logged, and the
//! others go on. A [`Slot`] holds one pipeline across reloads (`watch`): its totals, the
//! dead-lettered count and the worst status of its runs. When every task has ended, each
//! pipeline's summary is printed in file order, each error on stderr, and the status is the worst
//! of them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::{Options, Serving, dead_letters, drive, outcome, serve_metrics, watch};
use crate::compile::{LoadError, Loaded, load_bytes};
use crate::config::Pipeline;
use crate::config::env::Environment;
use crate::config::file::{self, pipelines_in};
use crate::config::load::UnsetVariables;
use crate::diag::Diagnostic;
use crate::exit::{ExitStatus, describe};
use crate::naming::queue_name;
use crate::redact::redact_registered;
use crate::runtime::backend::BackendKind;
use crate::runtime::counters::{Counters, Summary};
use crate::runtime::shutdown;

/// Runs every pipeline `options` names (see the module doc) and prints their summaries to `out`.
pub(super) async fn run(
    options: &Options,
    env: &Environment,
    out: &mut impl Write,
) -> anyhow::Result<ExitStatus> {
    let loaded = load_all(&pipeline_files(options), env, options.backend.kind)?;
    if options.dry_run {
        return dry_runs(&loaded, options, env, out).await;
    }
    options.backend.ready().await?;
    for (_, pipeline) in &loaded {
        // A bad --visibility-timeout is a usage error before anything starts.
        options.backend.visibility_timeout(&pipeline.pipeline)?;
    }
    let stop = shutdown::on_signal();
    // One metrics server for the process; every pipeline's metrics carry its name.
    let serving = CancellationToken::new();
    let _stop_serving = serving.clone().drop_guard();
    let metrics = match options.metrics {
        Some(address) => Some(Arc::new(Serving {
            ready: serve_metrics(address, &serving).await?,
            stop: serving.clone(),
        })),
        None => None,
    };
    let context = Context {
        options: Arc::new(options.clone()),
        stop: stop.clone(),
        metrics,
    };
    let mut slots: Vec<Slot> = loaded
        .into_iter()
        .map(|(text, pipeline)| Slot::start(pipeline, text, &context))
        .collect();
    if options.watch {
        let dirs: Vec<PathBuf> = std::iter::once(&options.file)
            .chain(&options.more)
            .filter(|path| path.is_dir())
            .cloned()
            .collect();
        watch::watch(&mut slots, &dirs, &context, env).await;
    }
    for slot in &mut slots {
        slot.wait().await;
    }
    report(&slots, options, out)
}

/// What every pipeline of the process shares: the options and the process's stop token.
pub(super) struct Context {
    /// `run`'s options (the backend, `--once`).
    pub(super) options: Arc<Options>,
    /// Cancelled by a signal: every pipeline's token is a child of it.
    pub(super) stop: CancellationToken,
    /// The `--metrics` server, when asked for (`/ready` once a pipeline's stages are open).
    pub(super) metrics: Option<Arc<Serving>>,
}

/// One pipeline of the process, across the runs a reload starts.
pub(super) struct Slot {
    /// The file it comes from.
    pub(super) file: PathBuf,
    /// The bytes of the file the running (or last) version was loaded from.
    pub(super) text: Vec<u8>,
    /// The running (or last) version.
    pub(super) pipeline: Pipeline,
    /// Totals over every run of this pipeline.
    counters: Arc<Counters>,
    /// Messages dead-lettered over every run.
    dead_lettered: u64,
    /// The worst status of its runs so far.
    status: ExitStatus,
    /// Why its runs failed, for stderr at the end.
    errors: Vec<String>,
    /// The run in progress, if any.
    running: Option<Running>,
}

/// A run in progress: its tokens and its task.
struct Running {
    /// Ends the run gently, for a reload (see [`drive`]'s `wind_down`).
    wind_down: CancellationToken,
    task: JoinHandle<Ended>,
}

/// How one run of a pipeline ended.
struct Ended {
    result: anyhow::Result<ExitStatus>,
    dead_lettered: u64,
}

impl Slot {
    /// Starts `loaded` (read from `text`) as a new pipeline of the process.
    pub(super) fn start(loaded: Loaded, text: Vec<u8>, context: &Context) -> Slot {
        let mut slot = Slot {
            file: loaded.file.clone(),
            text,
            pipeline: loaded.pipeline.clone(),
            counters: Arc::new(Counters::default()),
            dead_lettered: 0,
            status: ExitStatus::Success,
            errors: Vec::new(),
            running: None,
        };
        slot.spawn(loaded, context);
        slot
    }

    /// The pipeline's name.
    pub(super) fn name(&self) -> &str {
        &self.pipeline.name.value
    }

    /// Whether a run of it is in progress.
    pub(super) fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts a run of `loaded` as its own task, in the pipeline's log span, with a stop token
    /// that is a child of the process's.
    fn spawn(&mut self, loaded: Loaded, context: &Context) {
        let stop = context.stop.child_token();
        let wind_down = CancellationToken::new();
        let span =
            tracing::info_span!(parent: None, "pipeline", name = %loaded.pipeline.name.value);
        let task = tokio::spawn(
            one_run(
                loaded,
                Arc::clone(&context.options),
                Arc::clone(&self.counters),
                stop,
                wind_down.clone(),
                context.metrics.clone(),
            )
            .instrument(span),
        );
        self.running = Some(Running { wind_down, task });
    }

    /// Stops the run in progress (the poll in progress finishes queueing, no poll follows, the
    /// consumer finishes the batch in hand), waits for it to end, then starts `loaded` (read
    /// from `text`) on the same state: nothing is received twice or left behind.
    pub(super) async fn reload(&mut self, loaded: Loaded, text: Vec<u8>, context: &Context) {
        if let Some(running) = &self.running {
            running.wind_down.cancel();
        }
        self.wait().await;
        self.text = text;
        self.pipeline = loaded.pipeline.clone();
        self.spawn(loaded, context);
    }

    /// Takes the end of a run that has ended on its own (it failed, or `--once` is done).
    pub(super) async fn reap(&mut self) {
        if self
            .running
            .as_ref()
            .is_some_and(|running| running.task.is_finished())
        {
            self.wait().await;
        }
    }

    /// Waits for the run in progress to end and adds up how it ended.
    async fn wait(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        match running.task.await {
            Ok(ended) => {
                self.dead_lettered += ended.dead_lettered;
                let status = match ended.result {
                    Ok(status) => status,
                    Err(error) => {
                        self.errors.push(describe(&error));
                        ExitStatus::of_error(&error)
                    }
                };
                self.status = worse(self.status, status);
            }
            Err(error) => {
                tracing::error!(pipeline = %self.name(), %error, "the pipeline's task ended abnormally; the other pipelines go on");
                self.errors
                    .push(format!("the pipeline's task ended abnormally: {error}"));
                self.status = ExitStatus::Failure;
            }
        }
    }
}

/// One run of a pipeline on its own state, until `stop` (or, with `--once`, the drain) ends it:
/// [`drive`] then [`outcome`]. A failure is logged here, when it happens, saying that the other
/// pipelines go on.
async fn one_run(
    loaded: Loaded,
    options: Arc<Options>,
    counters: Arc<Counters>,
    stop: CancellationToken,
    wind_down: CancellationToken,
    metrics: Option<Arc<Serving>>,
) -> Ended {
    let queue = match options.backend.queue(&loaded.pipeline) {
        Ok(queue) => queue,
        Err(error) => {
            let error = anyhow::Error::from(error);
            tracing::error!(error = %describe(&error), "pipeline not started: its queue cannot be opened; the other pipelines go on");
            return Ended {
                result: Err(error),
                dead_lettered: 0,
            };
        }
    };
    let dead_before = dead_letters(queue.as_ref(), 0).await;
    let queued = Arc::clone(&queue);
    let result = match drive(
        &loaded,
        &options,
        queued,
        &counters,
        &stop,
        &wind_down,
        metrics.as_deref(),
    )
    .await
    {
        Ok(ran) => outcome(&options, &counters, ran),
        Err(error) => Err(error),
    };
    let dead_after = dead_letters(queue.as_ref(), dead_before).await;
    match &result {
        Err(error) => {
            tracing::error!(error = %describe(error), "pipeline stopped; the other pipelines go on");
        }
        Ok(ExitStatus::Success) => tracing::info!("pipeline stopped"),
        Ok(_) => tracing::warn!("pipeline stopped; its run failed (see above)"),
    }
    Ended {
        result,
        dead_lettered: dead_after.saturating_sub(dead_before),
    }
}

/// The worse of two statuses: the higher number (see `crate::exit`).
fn worse(a: ExitStatus, b: ExitStatus) -> ExitStatus {
    if b.code() > a.code() { b } else { a }
}

/// Prints each pipeline's summary to `out` in file order (on AWS, then the requests of the whole
/// process), each error to stderr, and gives the worst status.
fn report(slots: &[Slot], options: &Options, out: &mut impl Write) -> anyhow::Result<ExitStatus> {
    let mut status = ExitStatus::Success;
    for slot in slots {
        let summary = Summary {
            counters: &slot.counters,
            dead_lettered: slot.dead_lettered,
            emails_to: Some(options.backend.emails_destination()),
            // One count for the whole process, below: the pipelines share the AWS clients.
            aws_requests: None,
        };
        writeln!(out, "{}: {summary}", slot.name())?;
        for error in &slot.errors {
            eprintln!(
                "{}",
                redact_registered(&format!("stockrun: error: {}: {error}", slot.name()))
            );
        }
        status = worse(status, slot.status);
    }
    if let Some(requests) = options.backend.aws_requests() {
        writeln!(out, "AWS requests {requests} (all pipelines)")?;
    }
    Ok(status)
}

/// The pipeline files `options` names: each file as given, each directory's pipeline files.
fn pipeline_files(options: &Options) -> Vec<Given> {
    std::iter::once(&options.file)
        .chain(&options.more)
        .map(|path| {
            if path.is_dir() {
                Given::Directory(path.clone(), pipelines_in(path))
            } else {
                Given::File(path.clone())
            }
        })
        .collect()
}

/// A path on the command line.
enum Given {
    /// A file: a pipeline.
    File(PathBuf),
    /// A directory and its pipeline files (or why they cannot be listed).
    Directory(PathBuf, std::io::Result<Vec<PathBuf>>),
}

/// Loads every pipeline file; when any cannot be read or has errors, or two would share their
/// state, the error holds every report (exit 1) and nothing starts. Gives each file's text with
/// its pipeline. Warnings are printed to stderr, once, as `run` prints them.
fn load_all(
    given: &[Given],
    env: &Environment,
    backend: BackendKind,
) -> Result<Vec<(Vec<u8>, Loaded)>, LoadError> {
    let mut reports: Vec<String> = Vec::new();
    let mut loaded: Vec<(Vec<u8>, Loaded)> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    for path in given {
        match path {
            Given::File(file) => files.push(file.clone()),
            Given::Directory(dir, Ok(found)) if found.is_empty() => reports.push(format!(
                "{}: no pipeline files (`*.yaml`, `*.yml`, not `*{}`) in this directory",
                dir.display(),
                file::TEST_SUFFIX
            )),
            Given::Directory(_, Ok(found)) => files.extend(found.iter().cloned()),
            Given::Directory(dir, Err(error)) => reports.push(format!(
                "cannot read the directory {}: {error}",
                dir.display()
            )),
        }
    }
    // A file given twice (itself and in its directory) is one pipeline.
    let mut seen = std::collections::HashSet::new();
    files.retain(|file| seen.insert(std::fs::canonicalize(file).unwrap_or_else(|_| file.clone())));
    for path in &files {
        let text = match file::read(path) {
            Ok(text) => text,
            Err(error) => {
                reports.push(error.to_string());
                continue;
            }
        };
        match load_bytes(path, &text, env, UnsetVariables::Deny) {
            Ok(pipeline) => {
                for warning in &pipeline.warnings {
                    eprintln!("{warning}");
                }
                let before = loaded.iter().map(|(_, l)| (&l.pipeline, l.file.as_path()));
                if let Some(clash) = clash(before, &pipeline, &text, backend) {
                    reports.push(clash);
                }
                loaded.push((text, pipeline));
            }
            Err(LoadError::Invalid { report }) => reports.push(report),
            Err(error) => reports.push(error.to_string()),
        }
    }
    if reports.is_empty() {
        return Ok(loaded);
    }
    reports.push(format!(
        "nothing started: {} problem(s) in the {} pipeline file(s) given",
        reports.len(),
        files.len()
    ));
    Err(LoadError::Invalid {
        report: reports.join("\n"),
    })
}

/// When `new` (read from `text`) would share its state with a pipeline loaded before it, the
/// error, at `new`'s `name`: the same name (the same database file and outbox names); on AWS also
/// the same queue or table.
pub(super) fn clash<'a>(
    before: impl IntoIterator<Item = (&'a Pipeline, &'a Path)>,
    new: &Loaded,
    text: &[u8],
    backend: BackendKind,
) -> Option<String> {
    let pipeline = &new.pipeline;
    let other = before.into_iter().find_map(|(o, file)| {
        let what = if o.name.value == pipeline.name.value {
            "name"
        } else if backend == BackendKind::Aws && queue_name(o) == queue_name(pipeline) {
            "queue"
        } else if backend == BackendKind::Aws && o.store.table.value == pipeline.store.table.value {
            "table"
        } else {
            return None;
        };
        Some((what, file.display().to_string()))
    })?;
    let (what, other_file) = other;
    let diagnostic = Diagnostic::error(
        pipeline.name.position,
        format!(
            "pipeline `{}` has the same {what} as the pipeline in {other_file}: two pipelines of one run cannot share their state",
            pipeline.name.value
        ),
    )
    .at("name")
    .help("give each pipeline its own `name` (its state file, queue and table are named after it, unless `queue.name` or `store.table` say otherwise)");
    let name = new.file.display().to_string();
    Some(diagnostic.render(&name, &String::from_utf8_lossy(text)))
}

/// `--dry-run` of each pipeline in turn (all of them valid), each printing its own report; the
/// worst status.
async fn dry_runs(
    loaded: &[(Vec<u8>, Loaded)],
    options: &Options,
    env: &Environment,
    out: &mut impl Write,
) -> anyhow::Result<ExitStatus> {
    let mut status = ExitStatus::Success;
    for (_, pipeline) in loaded {
        let one = Options {
            file: pipeline.file.clone(),
            more: Vec::new(),
            ..options.clone()
        };
        status = worse(status, super::super::dry_run::run(&one, env, out).await?);
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pipeline `name` with the queue `queue` and the table `table`, as loaded from `file`.
    fn loaded(file: &str, name: &str, queue: &str, table: &str) -> (Vec<u8>, Loaded) {
        let text = format!(
            "name: {name}\nsource:\n  url: http://127.0.0.1:9/\n  schedule: \"0 * * * * *\"\n  \
             records: $[*]\nqueue:\n  name: {queue}\nprocess:\n  fields:\n    symbol: {{ path: $.symbol }}\n\
             store:\n  table: {table}\n  key:\n    partition: {{ name: symbol, value: \"{{{{symbol}}}}\" }}\n"
        );
        let pipeline = load_bytes(
            Path::new(file),
            text.as_bytes(),
            &Environment::default(),
            UnsetVariables::Deny,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        (text.into_bytes(), pipeline)
    }

    #[test]
    fn a_shared_name_clashes_everywhere_a_shared_queue_or_table_only_on_aws() {
        let first = [loaded("a.yaml", "alpha", "quotes", "prices")];
        let cases = [
            ("alpha", "other", "other", true, true),
            ("beta", "quotes", "other", false, true),
            ("beta", "other", "prices", false, true),
            ("beta", "other", "other", false, false),
        ];
        for (name, queue, table, on_local, on_aws) in cases {
            let (text, new) = loaded("b.yaml", name, queue, table);
            let before = || first.iter().map(|(_, l)| (&l.pipeline, l.file.as_path()));
            let local = clash(before(), &new, &text, BackendKind::Local);
            let aws = clash(before(), &new, &text, BackendKind::Aws);
            assert_eq!(
                local.is_some(),
                on_local,
                "{name} {queue} {table}: {local:?}"
            );
            assert_eq!(aws.is_some(), on_aws, "{name} {queue} {table}: {aws:?}");
            if let Some(report) = aws {
                assert!(
                    report.starts_with("b.yaml:1:7: error: pipeline `"),
                    "{report}"
                );
                assert!(report.contains("as the pipeline in a.yaml"), "{report}");
            }
        }
    }

    #[test]
    fn the_worse_status_is_the_higher_number() {
        assert_eq!(
            worse(ExitStatus::Success, ExitStatus::Failure),
            ExitStatus::Failure
        );
        assert_eq!(
            worse(ExitStatus::Failure, ExitStatus::Invalid),
            ExitStatus::Failure
        );
        assert_eq!(
            worse(ExitStatus::Success, ExitStatus::Success),
            ExitStatus::Success
        );
    }
}
