//! Gathers what a chart shows from a pipeline's state: each series' records (by Query on the
//! partition key on DynamoDB: `Store::history` with the series, never a scan) and the alerts the
//! ledger raised for it, into the renderer's `ChartData`. Shared by `stockrun chart` and the
//! chart in the e-mail ([`attach`]); the renderer itself (`crate::chart`) knows nothing of stores.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Stages;
use crate::alert::AlertKind;
use crate::alert::ledger::AlertLedger;
use crate::chart::{self, ChartData, Format, Marker, MarkerKind, Options, Point, Series};
use crate::config::Pipeline;
use crate::config::model::{ChartFields, ChartOverrides};
use crate::notify::{Email, InlineImage};
use crate::process::timestamp::to_rfc3339;
use crate::store::{Item, Store, StoreError};

/// Which series a chart shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every series the store holds (reads the whole table: the local backend only).
    All,
    /// These series (partition key values), in this order.
    Series(Vec<String>),
}

/// The series of `selection` with their records since `since` (all when `None`) and the alerts
/// raised for them since then, when there is a `ledger`. Records without a time or a value are
/// left out; a band is drawn where a record has both its fields.
pub async fn gather(
    store: &dyn Store,
    ledger: Option<&dyn AlertLedger>,
    fields: &ChartFields,
    selection: &Selection,
    since: Option<DateTime<Utc>>,
) -> Result<ChartData, StoreError> {
    // A period is read by the sort key when the sort key is the time; else filtered here.
    let lower = since.filter(|_| fields.sort_is_time).map(to_rfc3339);
    let mut by_series: BTreeMap<String, Series> = BTreeMap::new();
    let items: Vec<Item> = match selection {
        Selection::All => store.history(lower.as_deref(), None).await?,
        Selection::Series(names) => {
            let mut items = Vec::new();
            for name in names {
                by_series.insert(name.clone(), named(name));
                items.extend(store.history(lower.as_deref(), Some(name)).await?);
            }
            items
        }
    };
    for item in &items {
        let Some(point) = point_of(item, fields) else {
            continue;
        };
        if since.is_some_and(|since| point.at < since) {
            continue;
        }
        by_series
            .entry(item.partition.clone())
            .or_insert_with(|| named(&item.partition))
            .points
            .push(point);
    }
    if let Some(ledger) = ledger {
        let raised = ledger
            .raised_since(since.unwrap_or(DateTime::<Utc>::MIN_UTC))
            .await?;
        for alert in raised {
            let Some(series) = by_series.get_mut(&alert.series) else {
                continue;
            };
            // The record's time when the sort key is the time; else when it was raised.
            let at = Some(&alert.sort)
                .filter(|_| fields.sort_is_time)
                .and_then(|sort| DateTime::parse_from_rfc3339(sort).ok())
                .map_or(alert.at, |at| at.to_utc());
            series.markers.push(Marker {
                at,
                kind: match alert.kind {
                    AlertKind::Fired => MarkerKind::Fired,
                    AlertKind::Resolved => MarkerKind::Resolved,
                },
                rule: alert.rule,
            });
        }
    }
    let mut series: Vec<Series> = match selection {
        Selection::All => by_series.into_values().collect(),
        Selection::Series(names) => names
            .iter()
            .filter_map(|name| by_series.remove(name))
            .collect(),
    };
    for one in &mut series {
        one.points.sort_by_key(|p| p.at);
        one.markers.sort_by_key(|m| m.at);
    }
    Ok(ChartData {
        series,
        value: fields.value.clone(),
        band: fields.band.clone(),
    })
}

fn named(name: &str) -> Series {
    Series {
        name: name.to_owned(),
        ..Series::default()
    }
}

/// The point of one stored item, when it has a time and a value.
fn point_of(item: &Item, fields: &ChartFields) -> Option<Point> {
    let number = |name: &str| item.attributes.get(name).and_then(Value::as_f64);
    let at = item
        .attributes
        .get(&fields.time)
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())?
        .to_utc();
    let value = number(&fields.value).filter(|v| v.is_finite())?;
    let band = fields.band.as_ref().and_then(|(low, high)| {
        let (low, high) = (number(low)?, number(high)?);
        (low.is_finite() && high.is_finite()).then_some((low.min(high), low.max(high)))
    });
    Some(Point { at, value, band })
}

/// The zone a pipeline's charts are labelled in: `source.timezone` when set, else UTC.
pub fn default_timezone(pipeline: &Pipeline) -> chrono_tz::Tz {
    pipeline
        .source
        .timezone
        .as_ref()
        .and_then(|zone| zone.value.parse().ok())
        .unwrap_or(chrono_tz::UTC)
}

/// Adds to `email` one small PNG chart per series of `series` (each once, in order), when the
/// pipeline asks for it (`notify.chart`), as inline images of its HTML part. A chart that cannot
/// be drawn is logged and left out: the mail goes anyway.
pub async fn attach(stages: &Stages, email: &mut Email, series: &[&str], now: DateTime<Utc>) {
    let pipeline = &stages.pipeline;
    let Some(mail) = pipeline.notify.as_ref().and_then(|n| n.chart.as_ref()) else {
        return;
    };
    let fields = match ChartFields::resolve(
        pipeline.chart.as_ref(),
        &ChartOverrides::default(),
        &pipeline.process.fields,
        &pipeline.store,
    ) {
        Ok(fields) => fields,
        Err(error) => {
            tracing::warn!(%error, "no chart in the e-mail");
            return;
        }
    };
    let mut names: Vec<String> = Vec::new();
    for name in series {
        if !names.iter().any(|n| n == name) {
            names.push((*name).to_owned());
        }
    }
    let since = now - chrono::Duration::from_std(mail.since.0).unwrap_or_default();
    let ledger = stages.alerts.as_ref().map(|a| a.ledger.as_ref());
    let data = match gather(
        stages.store.as_ref(),
        ledger,
        &fields,
        &Selection::Series(names),
        Some(since),
    )
    .await
    {
        Ok(data) => data,
        Err(error) => {
            tracing::warn!(%error, "cannot read the chart's data; the e-mail goes without it");
            return;
        }
    };
    let options = Options {
        format: Format::Png,
        width: mail.width.value,
        panel_height: mail.height.value,
        timezone: default_timezone(pipeline),
    };
    for (i, one) in data.series.iter().enumerate() {
        let single = ChartData {
            series: vec![one.clone()],
            value: data.value.clone(),
            band: data.band.clone(),
        };
        match chart::render(&single, &options) {
            Ok(png) => email.images.push(InlineImage {
                content_id: format!("chart-{i}@stockrun"),
                alt: format!("{} chart of {}", data.value, one.name),
                png,
            }),
            Err(error) => tracing::warn!(%error, series = %one.name, "chart not drawn"),
        }
    }
}
