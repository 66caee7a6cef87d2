//! `stockrun run`, `poll` and `consume`: the pipeline on one machine. `run` is the poller and
//! the consumer in one process; `poll` and `consume` are each half (several consumers can share
//! one queue). `run` given a directory, several files or `--watch` runs several pipelines in one
//! process (`many`), each through the same [`drive`] and [`outcome`] as a single one; `watch`
//! reloads an edited file.

mod many;
mod watch;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::compile::Loaded;
use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::exit::ExitStatus;
use crate::http::Ready;
use crate::queue::{Queue, QueueError};
use crate::runtime::Stages;
use crate::runtime::backend::Backend;
use crate::runtime::consumer::{ConsumeError, Until, consume};
use crate::runtime::counters::{Counters, Summary};
use crate::runtime::poll_loop::{
    Clock, SystemClock, feed_status, poll_and_queue, poll_on_schedule_by,
};
use crate::runtime::shutdown;

/// Which halves of the pipeline to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halves {
    /// Poller and consumer (`run`).
    Both,
    /// Only the poller (`poll`).
    Poll,
    /// Only the consumer (`consume`).
    Consume,
}

/// What `run`, `poll` or `consume` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The pipeline file (`run`: or a directory of pipelines).
    pub file: PathBuf,
    /// `run`: more pipeline files or directories, run in the same process (`many`).
    pub more: Vec<PathBuf>,
    /// `run`: reload a pipeline file when it changes and the change validates (`watch`).
    pub watch: bool,
    /// Where the stages run.
    pub backend: Backend,
    /// Poll once and/or drain the queue, then exit with a summary.
    pub once: bool,
    /// Which halves to run.
    pub halves: Halves,
    /// Poll once and report what would be queued, stored and mailed, writing nothing
    /// (`super::dry_run`; `run` and `poll` only).
    pub dry_run: bool,
    /// Serve `/metrics`, `/ready` and `/live` here while running (`crate::http`).
    pub metrics: Option<SocketAddr>,
}

/// How often `--metrics` refreshes the queue and dead-letter depth gauges (one count each time;
/// a scrape only renders what is recorded).
const DEPTH_REFRESH: Duration = Duration::from_secs(5);

/// Runs the pipeline and prints the summary line to `out` when it stops. Ends with an error
/// when the drain stopped on a failing queue or store; with `once`, `Failure` when every poll
/// request failed, records could not be queued, or a digest e-mail was not sent (its records are
/// stored, the e-mail is lost: the run did not do its job). An e-mail cut short by a stop is not
/// a failure: its records stay queued for the next run.
pub async fn run(
    options: &Options,
    env: &Environment,
    out: &mut impl Write,
) -> anyhow::Result<ExitStatus> {
    if options.halves == Halves::Both
        && (options.watch || !options.more.is_empty() || options.file.is_dir())
    {
        return many::run(options, env, out).await;
    }
    if options.dry_run {
        return super::dry_run::run(options, env, out).await;
    }
    let unset = match options.halves {
        Halves::Consume => UnsetVariables::Warn,
        Halves::Both | Halves::Poll => UnsetVariables::Deny,
    };
    let loaded = super::load_pipeline(&options.file, env, unset)?;
    options.backend.ready().await?;
    if options.halves == Halves::Consume
        && let Some(database) = options.backend.missing_local_state(&loaded.pipeline)
    {
        let name = &loaded.pipeline.name.value;
        if options.once {
            // A bad --visibility-timeout is still a usage error.
            options.backend.visibility_timeout(&loaded.pipeline)?;
            // Nothing can be queued where no poll has run: say so, and leave no empty state
            // behind (as `show` refuses it).
            writeln!(
                out,
                "{name}: nothing queued: {} does not exist (no `stockrun poll` or `run` has used this --state-dir); nothing created",
                database.display()
            )?;
            return Ok(ExitStatus::Success);
        }
        tracing::warn!(
            pipeline = %name,
            database = %database.display(),
            "no local state yet: created it; waiting for `stockrun poll` with the same --state-dir to queue records"
        );
    }
    // Before the queue or store opens, so a signal while waiting on a locked file is graceful.
    // Also for `--once`: a signal finishes the batch in hand and prints the summary.
    let stop = shutdown::on_signal();
    // The server stops with the run, whatever ends it.
    let serving = CancellationToken::new();
    let _stop_serving = serving.clone().drop_guard();
    let metrics = match options.metrics {
        Some(address) => Some(Serving {
            ready: serve_metrics(address, &serving).await?,
            stop: serving.clone(),
        }),
        None => None,
    };
    let counters = Counters::default();
    let queue = options.backend.queue(&loaded.pipeline)?;
    let dead_before = dead_letters(queue.as_ref(), 0).await;
    let ran = drive(
        &loaded,
        options,
        Arc::clone(&queue),
        &counters,
        &stop,
        &stop,
        metrics.as_ref(),
    )
    .await?;
    let dead_after = dead_letters(queue.as_ref(), dead_before).await;
    // A failed drain outranks a closed pipe: the summary's write error comes second.
    let printed = writeln!(
        out,
        "{}: {}",
        loaded.pipeline.name.value,
        summary(options, &counters, dead_before, dead_after)
    );
    let status = outcome(options, &counters, ran)?;
    printed?;
    Ok(status)
}

/// How many messages the dead-letter queue holds; `otherwise` when the queue cannot say.
pub(crate) async fn dead_letters(queue: &dyn Queue, otherwise: u64) -> u64 {
    queue.counts().await.map(|c| c.dead).unwrap_or(otherwise)
}

/// The one-line summary of a run's `counters` (the `name: ` before it is the caller's).
pub(crate) fn summary(
    options: &Options,
    counters: &Counters,
    dead_before: u64,
    dead_after: u64,
) -> String {
    Summary {
        counters,
        dead_lettered: dead_after.saturating_sub(dead_before),
        emails_to: Some(options.backend.emails_destination()),
        aws_requests: options.backend.aws_requests(),
    }
    .to_string()
}

/// How each half of a run ended, for [`outcome`].
pub(crate) struct Ran {
    /// The poller's end (`Ok` when the pipeline does not poll).
    polled: Result<(), QueueError>,
    /// The consumer's end (`Ok` when the pipeline does not consume).
    consumed: Result<(), ConsumeError>,
    /// Whether it polled.
    polls: bool,
}

/// Runs the halves `options` asks for of the loaded pipeline on `queue`, counting into
/// `counters`, until `stop` is cancelled (or, with `--once`, until one poll and the drain after
/// it are done). A half that fails for good (the queue or the store cannot record progress)
/// cancels `stop`, so the other one stops too, as on a signal: the consumer finishes the batch in
/// hand. The error is a stage that cannot be opened.
///
/// Neither `stop` nor `wind_down` cuts a poll in progress: it finishes queueing all it fetched
/// (an API that answers only what is new would not send it again; the soak's source is one), and
/// no poll follows. `wind_down` is the stop of a reload (`many`): the poller stops first, then
/// `stop` is cancelled for the consumer. A single run passes `stop` for both.
pub(crate) async fn drive(
    loaded: &Loaded,
    options: &Options,
    queue: Arc<dyn Queue>,
    counters: &Counters,
    stop: &CancellationToken,
    wind_down: &CancellationToken,
    metrics: Option<&Serving>,
) -> anyhow::Result<Ran> {
    let pipeline = &loaded.pipeline;
    let poller = match options.halves {
        Halves::Consume => None,
        _ => Some(loaded.poller()?),
    };
    let status = poller
        .as_ref()
        .and_then(|_| feed_status(&options.backend, pipeline));
    let status = status.as_deref();
    let stages = match options.halves {
        Halves::Poll => None,
        _ => Some(Stages::open(loaded, &options.backend, Arc::clone(&queue))?),
    };
    if let Some(metrics) = metrics {
        refresh_depth(&pipeline.name.value, Arc::clone(&queue), &metrics.stop);
        metrics.ready.set();
    }
    tracing::info!(pipeline = %pipeline.name.value, file = %loaded.file.display(), once = options.once, "starting");
    let until = Until {
        drained: options.once,
        stop: stop.clone(),
    };
    // A stop never cuts the poll in progress short: what it fetched is queued (a source that
    // answers only what is new would not send it again), then no poll follows. Only the queue
    // failing for good ends it sooner; a second signal quits at once (`shutdown`).
    let never = CancellationToken::new();
    let polling = async {
        let polled = match &poller {
            Some(poller) if options.once => {
                poll_and_queue(poller, queue.as_ref(), status, counters, &never).await
            }
            Some(poller) => {
                let clock = WindDown(wind_down, stop);
                poll_on_schedule_by(&clock, poller, queue.as_ref(), status, counters, &never).await
            }
            None => Ok(()),
        };
        if polled.is_err() || wind_down.is_cancelled() {
            stop.cancel();
        }
        polled
    };
    let consuming = async {
        let consumed = match &stages {
            Some(stages) => consume(stages, counters, &until).await,
            None => Ok(()),
        };
        if consumed.is_err() {
            stop.cancel();
        }
        consumed
    };
    let (polled, consumed) = if options.once {
        // Poll first, then drain what that queued (and anything queued before).
        let polled = polling.await;
        (polled, consuming.await)
    } else {
        tokio::join!(polling, consuming)
    };
    Ok(Ran {
        polled,
        consumed,
        polls: poller.is_some(),
    })
}

/// The system clock, whose waits for the next poll also end when either token is cancelled (a
/// reload's wind-down, the stop): the poll loop then stops between polls, never during one.
struct WindDown<'a>(&'a CancellationToken, &'a CancellationToken);

impl Clock for WindDown<'_> {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        SystemClock.now()
    }

    async fn sleep_until(
        &self,
        at: chrono::DateTime<chrono::Utc>,
        stop: &CancellationToken,
    ) -> bool {
        tokio::select! {
            woke = SystemClock.sleep_until(at, stop) => woke,
            () = self.0.cancelled() => false,
            () = self.1.cancelled() => false,
        }
    }
}

/// The status of a run that ended as `ran` with `counters`: an error when the drain stopped on
/// a failing queue or store; with `--once`, `Failure` when every poll request failed, records
/// could not be queued, or a digest e-mail was not sent.
pub(crate) fn outcome(
    options: &Options,
    counters: &Counters,
    ran: Ran,
) -> anyhow::Result<ExitStatus> {
    ran.polled.context("records could not be queued")?;
    ran.consumed?;
    let not_queued = Counters::get(&counters.not_queued);
    if options.once && not_queued > 0 {
        // No later poll fetches them again.
        anyhow::bail!(
            "{not_queued} fetched record(s) could not be queued (see the log); run again to fetch them again"
        );
    }
    // A long-running poller that fails is logged all along; only `--once` reports it in its
    // status.
    let all_failed = options.once
        && ran.polls
        && Counters::get(&counters.fetched) == 0
        && Counters::get(&counters.failed_feeds) > 0;
    let mail_failed = options.once && Counters::get(&counters.emails_not_sent) > 0;
    if mail_failed {
        tracing::error!(
            not_sent = Counters::get(&counters.emails_not_sent),
            "some digest e-mails were not sent (see the log); their records are stored"
        );
    }
    Ok(ExitStatus::success_or(
        !all_failed && !mail_failed,
        ExitStatus::Failure,
    ))
}

/// A running `--metrics` server: `/ready` to set once the stages are open, and the token that
/// stops the depth refresh with the server.
pub(crate) struct Serving {
    /// What `/ready` answers.
    pub(crate) ready: Ready,
    /// Cancelled when the run ends.
    pub(crate) stop: CancellationToken,
}

/// Installs the Prometheus recorder and serves `/metrics`, `/ready` and `/live` on `address`
/// until `stop` is cancelled; returns the flag `/ready` reads.
async fn serve_metrics(address: SocketAddr, stop: &CancellationToken) -> anyhow::Result<Ready> {
    let handle = crate::metrics::install_prometheus()?;
    let listener = crate::http::bind(address).await?;
    let bound = listener.local_addr().unwrap_or(address);
    tracing::info!(address = %bound, "serving metrics on /metrics, /ready and /live");
    let ready = Ready::default();
    let router = crate::http::metrics_routes(handle.clone(), ready.clone());
    let stop = stop.clone();
    tokio::spawn(async move {
        // The exporter's histograms are drained on render; between scrapes, now and then.
        let upkeep = async {
            loop {
                tokio::time::sleep(DEPTH_REFRESH).await;
                handle.run_upkeep();
            }
        };
        tokio::select! {
            served = crate::http::serve(listener, router, stop) => {
                if let Err(error) = served {
                    tracing::error!(%error, "the metrics server stopped");
                }
            }
            () = upkeep => {}
        }
    });
    Ok(ready)
}

/// Refreshes the queue and dead-letter depth gauges every [`DEPTH_REFRESH`] until `stop`.
fn refresh_depth(pipeline: &str, queue: Arc<dyn Queue>, stop: &CancellationToken) {
    let pipeline = pipeline.to_owned();
    let stop = stop.clone();
    tokio::spawn(async move {
        loop {
            match queue.counts().await {
                Ok(counts) => crate::metrics::queue_depth(
                    &pipeline,
                    counts.visible + counts.in_flight,
                    counts.dead,
                ),
                Err(error) => tracing::debug!(%error, "queue depth not refreshed"),
            }
            tokio::select! {
                () = tokio::time::sleep(DEPTH_REFRESH) => {}
                () = stop.cancelled() => return,
            }
        }
    });
}
