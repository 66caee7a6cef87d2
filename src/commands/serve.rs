//! `stockrun serve FILE`: a read-only page of a pipeline (see `crate::page`), served with axum on
//! loopback by default. Each request reads the stages afresh (the state a `run` or the deployed
//! Lambda writes), by series and with limits, never the whole table: per series the newest two
//! records ([`Store::newest`]), the series list from the key index ([`Store::series`]); the
//! feeds' last polls from the feed status the poller records (`source::status`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{SecondsFormat, Utc};

use crate::alert::AlertKind;
use crate::compile::Loaded;
use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::config::model::{ChartFields, ChartOverrides};
use crate::exit::ExitStatus;
use crate::page::{self, AlertRow, DeadRow, Page, QueueRow};
use crate::runtime::backend::Backend;
use crate::runtime::chart::Selection;
use crate::store::Store;

/// At most this many series on the page.
pub const MAX_SERIES: usize = 200;
/// At most this many dead letters on the page.
pub const MAX_DEAD: usize = 20;
/// At most this many alerts on the page.
pub const MAX_ALERTS: usize = 50;
/// How far back from its latest record each series' chart on the page goes.
pub const CHART_DAYS: i64 = 7;
/// The size of each series' chart on the page.
const CHART_WIDTH: u32 = 600;
const CHART_HEIGHT: u32 = 240;
/// How far back from the latest alert the page lists alerts (by the records' time).
pub const ALERTS_WINDOW_DAYS: i64 = 7;

/// What `serve` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The pipeline file.
    pub file: PathBuf,
    /// Where the stages are.
    pub backend: Backend,
    /// Where to listen.
    pub listen: SocketAddr,
}

/// What every request reads.
struct Context {
    loaded: Loaded,
    backend: Backend,
}

/// The page of the pipeline `loaded` as its stages on `backend` hold it now (what each request
/// of `/` and `/page.json` reads; public for the benchmark).
pub async fn page_of(loaded: &Loaded, backend: &Backend) -> Page {
    gather(loaded, backend).await
}

/// Serves the page until Ctrl-C or SIGTERM; prints the address it listens on first.
pub async fn run(
    options: &Options,
    env: &Environment,
    out: &mut impl Write,
) -> anyhow::Result<ExitStatus> {
    let loaded = super::load_pipeline(&options.file, env, UnsetVariables::Warn)?;
    options.backend.ready().await?;
    let listener = crate::http::bind(options.listen).await?;
    let address = listener.local_addr()?;
    writeln!(
        out,
        "serving {} on http://{address}/ (Ctrl-C stops)",
        loaded.pipeline.name.value
    )?;
    out.flush()?;
    let context = Arc::new(Context {
        loaded,
        backend: options.backend.clone(),
    });
    let stop = crate::runtime::shutdown::on_signal();
    crate::http::serve(listener, router(context), stop)
        .await
        .context("the page server failed")?;
    Ok(ExitStatus::Success)
}

/// The routes: the page, its data as JSON, each series' chart.
fn router(context: Arc<Context>) -> Router {
    Router::new()
        .route("/", get(html))
        .route("/page.json", get(json))
        .route("/chart/{file}", get(chart_png))
        .with_state(context)
}

/// `/chart/KEY.png`: the [`CHART_DAYS`] days up to the series' latest record as a PNG (`crate::chart`), the alerts
/// marked; the series is read by its partition key (a Query on DynamoDB).
async fn chart_png(State(context): State<Arc<Context>>, Path(file): Path<String>) -> Response {
    let Some(series) = file.strip_suffix(".png") else {
        return (StatusCode::NOT_FOUND, "charts are KEY.png").into_response();
    };
    let loaded = &context.loaded;
    let pipeline = &loaded.pipeline;
    let fields = match chart_fields(loaded) {
        Ok(fields) => fields,
        Err(error) => return (StatusCode::NOT_FOUND, error).into_response(),
    };
    let drawn = async {
        let store = context.backend.existing_store(pipeline)?;
        let ledger = match loaded.rules {
            Some(_) => Some(context.backend.alert_ledger(pipeline)?),
            None => None,
        };
        // The week up to the series' latest record (a feed that stopped still shows its last).
        let latest = store
            .newest(series, 1)
            .await?
            .first()
            .and_then(|item| item.attributes.get(&fields.time))
            .and_then(serde_json::Value::as_str)
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map_or_else(Utc::now, |at| at.to_utc());
        let since = latest - chrono::Duration::days(CHART_DAYS);
        let data = crate::runtime::chart::gather(
            store.as_ref(),
            ledger.as_deref(),
            &fields,
            &Selection::Series(vec![series.to_owned()]),
            Some(since),
        )
        .await?;
        let options = crate::chart::Options {
            format: crate::chart::Format::Png,
            width: CHART_WIDTH,
            panel_height: CHART_HEIGHT,
            timezone: crate::runtime::chart::default_timezone(pipeline),
        };
        anyhow::Ok(crate::chart::render(&data, &options)?)
    };
    match drawn.await {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            loaded
                .redactor
                .redact(&format!("the chart could not be drawn: {error:#}"))
                .into_owned(),
        )
            .into_response(),
    }
}

/// The fields a chart draws (the pipeline's `chart` section or its defaults), or why there are
/// none to draw.
fn chart_fields(loaded: &Loaded) -> Result<ChartFields, String> {
    let pipeline = &loaded.pipeline;
    ChartFields::resolve(
        pipeline.chart.as_ref(),
        &ChartOverrides::default(),
        &pipeline.process.fields,
        &pipeline.store,
    )
}

async fn html(State(context): State<Arc<Context>>) -> Response {
    let page = gather(&context.loaded, &context.backend).await;
    match page::html::render(&page) {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page could not be rendered: {error}"),
        )
            .into_response(),
    }
}

async fn json(State(context): State<Arc<Context>>) -> Response {
    match serde_json::to_string(&gather(&context.loaded, &context.backend).await) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// Reads everything on the page; a section that cannot be read is left empty and said why.
async fn gather(loaded: &Loaded, backend: &Backend) -> Page {
    let pipeline = &loaded.pipeline;
    let redact = |text: &str| loaded.redactor.redact(text).into_owned();
    let mut page = Page {
        pipeline: pipeline.name.value.clone(),
        backend: describe(backend),
        generated_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        columns: columns(loaded),
        alerts_window: format!("the {ALERTS_WINDOW_DAYS} days up to the latest"),
        ..Page::default()
    };
    if let Some(database) = backend.missing_local_state(pipeline) {
        page.problems.push(format!(
            "Nothing has run with this state directory yet ({} does not exist): start `stockrun run` with the same --state-dir.",
            database.display()
        ));
        return page;
    }
    match backend.existing_store(pipeline) {
        Ok(store) => {
            let charts = chart_fields(loaded).is_ok();
            if let Err(error) = series(&*store, &mut page, charts).await {
                page.problems.push(redact(&format!("store: {error}")));
            }
        }
        Err(error) => page.problems.push(redact(&format!("store: {error}"))),
    }
    if loaded.rules.is_some() {
        // By the records' time, as the alerts are: the week up to the latest alert (a replayed
        // or stopped feed still shows its last alerts), not the week before now.
        let since = chrono::DateTime::UNIX_EPOCH;
        let raised = match backend.alert_ledger(pipeline) {
            Ok(ledger) => ledger.raised_since(since).await,
            Err(error) => Err(error),
        };
        match raised {
            Ok(mut alerts) => {
                alerts.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.id.cmp(&b.id)));
                if let Some(latest) = alerts.first().map(|alert| alert.at) {
                    let from = latest - chrono::Duration::days(ALERTS_WINDOW_DAYS);
                    alerts.retain(|alert| alert.at >= from);
                }
                page.alerts = alerts
                    .into_iter()
                    .take(MAX_ALERTS)
                    .map(|alert| AlertRow {
                        at: alert.at.to_rfc3339_opts(SecondsFormat::Secs, true),
                        rule: alert.rule,
                        kind: match alert.kind {
                            AlertKind::Fired => "fired",
                            AlertKind::Resolved => "resolved",
                        },
                        series: alert.series,
                        subject: redact(&alert.subject),
                    })
                    .collect();
            }
            Err(error) => page.problems.push(redact(&format!("alerts: {error}"))),
        }
    }
    match backend.existing_feed_status(pipeline) {
        Ok(status) => match status.all().await {
            Ok(mut feeds) => {
                // Without a compiled source (an unset variable in its URL) every feed is listed.
                if let Some(source) = loaded.source() {
                    let current: std::collections::HashSet<String> =
                        source.feed_labels().into_iter().collect();
                    let recorded = feeds.len();
                    feeds.retain(|feed| current.contains(&feed.feed));
                    page.feeds_removed = recorded - feeds.len();
                }
                let now = Utc::now();
                page.feeds = feeds
                    .iter()
                    .map(|feed| page::feeds::feed_row(feed, &loaded.schedule, now))
                    .collect();
            }
            Err(error) => page.problems.push(redact(&format!("feeds: {error}"))),
        },
        Err(error) => page.problems.push(redact(&format!("feeds: {error}"))),
    }
    match backend.queue_counts(pipeline).await {
        Ok(counts) => {
            page.queue = Some(QueueRow {
                visible: counts.visible,
                in_flight: counts.in_flight,
                dead: counts.dead,
            });
        }
        Err(error) => page.problems.push(redact(&format!("queue: {error}"))),
    }
    match backend.dead_letters(pipeline, MAX_DEAD).await {
        Ok(dead) => {
            page.dead_total = dead.total;
            page.dead = dead
                .letters
                .into_iter()
                .map(|letter| {
                    let reason = match &letter.last_error {
                        Some(reason) => reason.clone(),
                        None => match loaded.processor.process(&letter.body) {
                            Err(poison) => poison.reason,
                            Ok(_) => "none now: the body processes".to_owned(),
                        },
                    };
                    DeadRow {
                        id: letter.id,
                        receives: letter.receive_count,
                        reason: redact(&reason),
                        body: redact(&super::show::truncate(&letter.body, 200)),
                    }
                })
                .collect();
        }
        Err(error) => page
            .problems
            .push(redact(&format!("dead letters: {error}"))),
    }
    page
}

/// The series rows: the series list, then the newest two items of each; with `charts`, each row
/// links its chart.
async fn series(
    store: &dyn Store,
    page: &mut Page,
    charts: bool,
) -> Result<(), crate::store::StoreError> {
    let mut keys = store.series(MAX_SERIES + 1).await?;
    page.series_truncated = keys.len() > MAX_SERIES;
    keys.truncate(MAX_SERIES);
    for key in keys {
        let newest = store.newest(&key, 2).await?;
        let chart = if charts {
            format!("/chart/{}.png", crate::percent::percent_encode(&key))
        } else {
            String::new()
        };
        page.series
            .push(page::series_row(&key, &newest, &page.columns, chart));
    }
    Ok(())
}

/// The columns of a series row: the fields (the key fields aside), then the insert time.
fn columns(loaded: &Loaded) -> Vec<String> {
    let store = &loaded.pipeline.store;
    let mut key = vec![store.key.partition.name.value.as_str()];
    if let Some(sort) = &store.key.sort {
        key.push(sort.name.value.as_str());
    }
    let mut columns: Vec<String> = loaded
        .pipeline
        .process
        .fields
        .keys()
        .filter(|name| !key.contains(&name.as_str()))
        .cloned()
        .collect();
    columns.push(store.inserted_at.value.clone());
    columns
}

/// Where the stages are, in words.
fn describe(backend: &Backend) -> String {
    match backend.kind {
        crate::runtime::backend::BackendKind::Local => {
            format!("local state in {}", backend.state_dir.display())
        }
        crate::runtime::backend::BackendKind::Aws => "AWS (SQS, DynamoDB)".to_owned(),
    }
}
