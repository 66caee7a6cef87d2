//! `stockrun chart FILE -o FILE.png|FILE.svg`: draws the stored values of each series over time,
//! one panel per series in one image, with the low–high band and the alerts raised, time in the
//! pipeline's zone (or `--timezone`). Which fields are drawn is the pipeline's `chart` section
//! (or `--value`, `--band`, `--time`). On AWS each series is read by Query on its partition
//! key, so `--series` is required there: the table is never scanned.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;

use crate::chart::{self, Format};
use crate::commands::show::Since;
use crate::config::env::Environment;
use crate::config::load::UnsetVariables;
use crate::config::model::{ChartFields, ChartOverrides};
use crate::exit::{ExitStatus, UsageError};
use crate::runtime::backend::{Backend, BackendKind};
use crate::runtime::chart::{Selection, default_timezone, gather};

/// What `chart` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The pipeline file.
    pub file: PathBuf,
    /// Where the store is.
    pub backend: Backend,
    /// The image to write; its extension (`.png`, `.svg`) is the format.
    pub output: PathBuf,
    /// The series to draw (all, on the local backend, when empty).
    pub series: Vec<String>,
    /// Only the records since then.
    pub since: Option<Since>,
    /// The zone of the time axis (default: `source.timezone`, else UTC).
    pub timezone: Option<chrono_tz::Tz>,
    /// Fields instead of the `chart` section's.
    pub fields: ChartOverrides,
    /// Image width in pixels.
    pub width: u32,
    /// Height of one panel in pixels.
    pub height: u32,
}

/// Reads the series, draws them and writes the image; prints one line saying what it drew.
pub async fn run(
    options: &Options,
    env: &Environment,
    out: &mut impl Write,
) -> anyhow::Result<ExitStatus> {
    let format = Format::from_path(&options.output).ok_or_else(|| {
        UsageError(format!(
            "cannot tell the format of {}: name a `.png` or `.svg` file",
            options.output.display()
        ))
    })?;
    let loaded = super::load_pipeline(&options.file, env, UnsetVariables::Warn)?;
    let pipeline = &loaded.pipeline;
    let fields = ChartFields::resolve(
        pipeline.chart.as_ref(),
        &options.fields,
        &pipeline.process.fields,
        &pipeline.store,
    )
    .map_err(UsageError)?;
    let selection = if options.series.is_empty() {
        if options.backend.kind == BackendKind::Aws {
            return Err(UsageError(
                "name the series to draw with --series KEY (on AWS each series is read by Query \
                 on its partition key; the table is never scanned)"
                    .to_owned(),
            )
            .into());
        }
        Selection::All
    } else {
        Selection::Series(options.series.clone())
    };
    options.backend.ready().await?;
    let store = options.backend.existing_store(pipeline)?;
    let ledger = match &pipeline.notify {
        Some(notify) if !notify.rules.is_empty() => Some(
            options
                .backend
                .alert_ledger(pipeline)
                .context("cannot open the alert ledger")?,
        ),
        _ => None,
    };
    let since = options.since.map(|since| since.from(Utc::now()));
    let data = gather(
        store.as_ref(),
        ledger.as_deref(),
        &fields,
        &selection,
        since,
    )
    .await
    .context("cannot read the stored series")?;
    let chart_options = chart::Options {
        format,
        width: options.width,
        panel_height: options.height,
        timezone: options
            .timezone
            .unwrap_or_else(|| default_timezone(pipeline)),
    };
    let image = chart::render(&data, &chart_options).map_err(|e| UsageError(e.to_string()))?;
    std::fs::write(&options.output, &image)
        .with_context(|| format!("cannot write {}", options.output.display()))?;
    let points: usize = data.series.iter().map(|s| s.points.len()).sum();
    let alerts: usize = data.series.iter().map(|s| s.markers.len()).sum();
    writeln!(
        out,
        "wrote {}: {} series, {points} point(s), {alerts} alert(s), time in {}",
        options.output.display(),
        data.series.len(),
        chart_options.timezone
    )?;
    Ok(ExitStatus::Success)
}
