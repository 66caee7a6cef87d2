//! The `chart` section (which fields `stockrun chart` and the chart in the e-mail draw) and
//! `notify.chart` (whether, and how large, the e-mail's chart is). Which field of a record is
//! "the price" is the pipeline's business, so it is written here; [`ChartFields::resolve`] is the
//! one rule that turns it (or, when it is left out, the pipeline's fields) into the fields drawn.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Duration, Field, FieldType, Store};
use crate::config::Located;

/// Which fields a chart draws: per series (the records sharing the partition key) a line of
/// `value` over time, with the band from `band[0]` (low) to `band[1]` (high) shaded behind it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    /// The number (or integer) field drawn as the line, such as `price`. Default: the pipeline's number
    /// field, when it has exactly one.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Located<String>>,
    /// Two number fields drawn as a shaded band behind the line, low then high, such as
    /// `[low, high]`. Default: no band.
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<Located<Vec<Located<String>>>>,
    /// The timestamp field that places a record on the time axis. Default: the store's sort
    /// key when it is one timestamp field (`{{quoted_at}}`), else the pipeline's timestamp
    /// field when it has exactly one, else the insert time (`store.inserted_at`).
    #[serde(default)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Located<String>>,
}

/// The chart in the e-mail (`notify.chart`): its period and size. `chart: {}` takes the
/// defaults: the last day, 600 × 240 pixels.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailChart {
    /// How far back the chart reaches, such as `1d` or `7d`. Default `1d`.
    #[serde(default = "default_since")]
    pub since: Located<Duration>,
    /// Width in pixels, 200 to 1200. Default 600.
    #[serde(default = "default_width")]
    pub width: Located<u32>,
    /// Height in pixels, 200 to 800. Default 240.
    #[serde(default = "default_height")]
    pub height: Located<u32>,
}

impl Default for MailChart {
    fn default() -> MailChart {
        MailChart {
            since: default_since(),
            width: default_width(),
            height: default_height(),
        }
    }
}

/// The bounds of `notify.chart.width` (pixels): narrower leaves no room for the labels, wider
/// is more than a mail client shows.
pub const MAIL_WIDTH: std::ops::RangeInclusive<u32> = 200..=1200;
/// The bounds of `notify.chart.height` (pixels).
pub const MAIL_HEIGHT: std::ops::RangeInclusive<u32> = 200..=800;

fn default_since() -> Located<Duration> {
    Located::unlocated(Duration::from_secs(86_400))
}

fn default_width() -> Located<u32> {
    Located::unlocated(600)
}

fn default_height() -> Located<u32> {
    Located::unlocated(240)
}

/// The fields a chart draws, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartFields {
    /// The line.
    pub value: String,
    /// The band, low then high.
    pub band: Option<(String, String)>,
    /// The attribute that holds each record's time (a timestamp field or `store.inserted_at`).
    pub time: String,
    /// Whether the store's sort key is that time (then a period is read by the sort key).
    pub sort_is_time: bool,
}

/// What `--value`, `--band` and `--time` give instead of the `chart` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChartOverrides {
    /// `--value FIELD`.
    pub value: Option<String>,
    /// `--band LOW,HIGH`.
    pub band: Option<(String, String)>,
    /// `--time FIELD`.
    pub time: Option<String>,
}

impl ChartFields {
    /// The fields to draw: `overrides` first, then the `chart` section, then the defaults
    /// (see [`Chart`]). The error says which field is missing or of the wrong type and what
    /// the choices are (`validate` reports the section's own names with their positions).
    pub fn resolve(
        chart: Option<&Chart>,
        overrides: &ChartOverrides,
        fields: &IndexMap<String, Located<Field>>,
        store: &Store,
    ) -> Result<ChartFields, String> {
        let numbers = names_of(fields, &[FieldType::Number, FieldType::Integer]);
        let timestamps = names_of(fields, &[FieldType::Timestamp]);
        let configured = |pick: fn(&Chart) -> Option<&Located<String>>| {
            chart.and_then(pick).map(|name| name.value.clone())
        };
        let value = match overrides
            .value
            .clone()
            .or_else(|| configured(|c| c.value.as_ref()))
        {
            Some(value) => value,
            None => match numbers.as_slice() {
                [only] => only.clone(),
                [] => return Err("the pipeline has no number field to chart".to_owned()),
                several => {
                    return Err(format!(
                        "which number field is the line? the pipeline has {}: set `chart.value` or give --value",
                        several.join(", ")
                    ));
                }
            },
        };
        let band = overrides.band.clone().or_else(|| {
            let band = chart.and_then(|c| c.band.as_ref())?;
            match band.as_slice() {
                [low, high] => Some((low.value.clone(), high.value.clone())),
                _ => None,
            }
        });
        for name in std::iter::once(&value).chain(band.iter().flat_map(|(l, h)| [l, h])) {
            if !numbers.contains(name) {
                return Err(not_a(name, "number", &numbers));
            }
        }
        let sort_field = store.key.sort.as_ref().and_then(|sort| {
            let inner = sort.value.trim().strip_prefix("{{")?.strip_suffix("}}")?;
            Some(inner.trim().to_owned())
        });
        let sort_time = sort_field.filter(|name| timestamps.contains(name));
        let time = match overrides
            .time
            .clone()
            .or_else(|| configured(|c| c.time.as_ref()))
        {
            Some(time) if time == store.inserted_at.value || timestamps.contains(&time) => time,
            Some(time) => return Err(not_a(&time, "timestamp", &timestamps)),
            None => sort_time
                .clone()
                .unwrap_or_else(|| match timestamps.as_slice() {
                    [only] => only.clone(),
                    _ => store.inserted_at.value.clone(),
                }),
        };
        Ok(ChartFields {
            sort_is_time: sort_time.as_ref() == Some(&time),
            value,
            band,
            time,
        })
    }
}

/// The fields of one of `kinds`, in order.
pub fn names_of(fields: &IndexMap<String, Located<Field>>, kinds: &[FieldType]) -> Vec<String> {
    fields
        .iter()
        .filter(|(_, field)| kinds.contains(&field.kind.value))
        .map(|(name, _)| name.clone())
        .collect()
}

fn not_a(name: &str, kind: &str, candidates: &[String]) -> String {
    let list = if candidates.is_empty() {
        "none".to_owned()
    } else {
        candidates.join(", ")
    };
    format!("`{name}` is not a {kind} field of the pipeline ({kind} fields: {list})")
}
