//! The alarms of a deployed pipeline and where they notify: the dead-letter queue is not empty
//! (`AWS/SQS`), the function fails (`AWS/Lambda` `Errors`), the feeds went silent (the
//! function's EMF metric `stockrun_polls_total`): no poll in which every feed answered for
//! [`SILENT_PERIODS`] of the schedule's longest gaps, missing data breaching (a function that
//! stopped running reports nothing) — or, with `source.active`, where silence outside the
//! windows is expected, a failed poll in each of [`SILENT_PERIODS`] periods of its shortest gap;
//! and, when the pipeline declares `source.quota`, the API's remaining requests
//! under [`QUOTA_ALARM_FLOOR`] of its limit. An SNS topic with an e-mail subscription exists only
//! when the `AlarmEmail` parameter is given (condition `HasAlarmEmail`); without it the alarms
//! have no action and are seen in the console.
//!
//! Metric names and dimensions come from `crate::metrics`, the thresholds from
//! `crate::resources`: the function reports what the alarms read.

use std::time::Duration;

use super::model::{Condition, Parameter, Resource, Str};
use super::properties::{Alarm, Dimension, Properties, Subscription, Topic};
use super::{
    ALARM_EMAIL, ALARM_SUBSCRIPTION, ALARM_TOPIC, DEAD_LETTER_QUEUE, FUNCTION, HAS_ALARM_EMAIL,
};
use crate::config::Pipeline;
use crate::metrics;
use crate::resources::{ALARM_PERIOD, QUOTA_ALARM_FLOOR, SILENT_PERIODS, alarms_on_quota};

/// Logical id of the "feed went silent" alarm.
const SILENT_ALARM: &str = "FeedSilentAlarm";

/// The longest an alarm may look back: CloudWatch's limit on period × evaluation periods.
const MAX_LOOKBACK: Duration = Duration::from_secs(7 * 86_400);

/// The longest period CloudWatch takes for an alarm: one day.
const MAX_PERIOD: Duration = Duration::from_secs(86_400);

/// The `AlarmEmail` parameter: empty by default (no topic).
pub(super) fn email_parameter() -> Parameter {
    Parameter {
        kind: "String",
        description: "E-mail address the alarms notify through an SNS topic (confirm the subscription mail); empty: no topic, the alarms are only seen in the CloudWatch console".to_owned(),
        no_echo: None,
        default: Some(String::new()),
    }
}

/// The condition: the `AlarmEmail` parameter is given.
pub(super) fn email_given() -> Condition {
    Condition::given(ALARM_EMAIL)
}

/// The alarms and the topic, by logical id. `gaps` are the schedule's shortest and longest
/// ([`crate::source::Schedule::gaps`]); `None` leaves out the silence alarm (a schedule that
/// fires at most once in eight days).
pub(super) fn resources(
    pipeline: &Pipeline,
    gaps: Option<(Duration, Duration)>,
) -> Vec<(&'static str, Resource)> {
    let name = &pipeline.name.value;
    let topic = Resource::new(
        "AWS::SNS::Topic",
        Properties::Topic(Topic {
            display_name: format!("stockrun {name}"),
        }),
    )
    .when(HAS_ALARM_EMAIL);
    let subscription = Resource::new(
        "AWS::SNS::Subscription",
        Properties::Subscription(Subscription {
            protocol: "email",
            endpoint: Str::reference(ALARM_EMAIL),
            topic_arn: Str::reference(ALARM_TOPIC),
        }),
    )
    .when(HAS_ALARM_EMAIL);
    let pipeline_dimension = || Dimension {
        name: metrics::PIPELINE,
        value: Str::Literal(name.clone()),
    };
    let mut found = vec![
        (ALARM_TOPIC, topic),
        (ALARM_SUBSCRIPTION, subscription),
        (
            "DeadLetterAlarm",
            alarm(Alarm {
                alarm_description: format!(
                    "stockrun {name}: records in the dead-letter queue (poison records; `stockrun show --dead --backend aws` lists them with the reason)"
                ),
                namespace: "AWS/SQS",
                metric_name: "ApproximateNumberOfMessagesVisible",
                dimensions: vec![Dimension {
                    name: "QueueName",
                    value: Str::attribute(DEAD_LETTER_QUEUE, "QueueName"),
                }],
                statistic: "Maximum",
                threshold: 0.0,
                comparison_operator: "GreaterThanThreshold",
                treat_missing_data: "notBreaching",
                ..every(ALARM_PERIOD, 1)
            }),
        ),
        (
            "FunctionErrorsAlarm",
            alarm(Alarm {
                alarm_description: format!(
                    "stockrun {name}: the function failed (every feed failed, records not queued, or a crash); see its log group"
                ),
                namespace: "AWS/Lambda",
                metric_name: "Errors",
                dimensions: vec![Dimension {
                    name: "FunctionName",
                    value: Str::reference(FUNCTION),
                }],
                statistic: "Sum",
                threshold: 0.0,
                comparison_operator: "GreaterThanThreshold",
                treat_missing_data: "notBreaching",
                ..every(ALARM_PERIOD, 1)
            }),
        ),
    ];
    match (gaps, pipeline.source.active.is_some()) {
        (None, _) => {}
        (Some((_, longest)), false) => {
            let (period, periods) = silence_window(longest);
            found.push((
                SILENT_ALARM,
                alarm(Alarm {
                    alarm_description: format!(
                        "stockrun {name}: no poll in which every feed answered for {periods} periods of {} (the schedule's longest gap, {}): an expired key, an exhausted quota, an API change, or the schedule stopped",
                        humantime::format_duration(period),
                        humantime::format_duration(longest)
                    ),
                    dimensions: vec![pipeline_dimension(), outcome(metrics::OK)],
                    threshold: 1.0,
                    comparison_operator: "LessThanThreshold",
                    treat_missing_data: "breaching",
                    ..polls(period, periods)
                }),
            ));
        }
        (Some((shortest, _)), true) => {
            // Outside `source.active` nothing polls: silence is not news there, so this alarm
            // fires on polls that ran and failed, in every period.
            let (period, periods) = silence_window(shortest);
            found.push((
                SILENT_ALARM,
                alarm(Alarm {
                    alarm_description: format!(
                        "stockrun {name}: a feed failed in every poll for {periods} periods of {} (silence outside source.active is expected and not alarmed): an expired key, an exhausted quota, an API change",
                        humantime::format_duration(period)
                    ),
                    dimensions: vec![pipeline_dimension(), outcome(metrics::FAILED)],
                    threshold: 1.0,
                    comparison_operator: "GreaterThanOrEqualToThreshold",
                    treat_missing_data: "notBreaching",
                    ..polls(period, periods)
                }),
            ));
        }
    }
    if alarms_on_quota(pipeline) {
        found.push((
            "QuotaAlarm",
            alarm(Alarm {
                alarm_description: format!(
                    "stockrun {name}: the API's remaining requests are under {}% of its limit",
                    QUOTA_ALARM_FLOOR * 100.0
                ),
                namespace: metrics::NAMESPACE,
                metric_name: metrics::QUOTA_REMAINING_RATIO,
                dimensions: vec![pipeline_dimension()],
                statistic: "Minimum",
                threshold: QUOTA_ALARM_FLOOR,
                comparison_operator: "LessThanThreshold",
                treat_missing_data: "notBreaching",
                ..every(ALARM_PERIOD, 1)
            }),
        ));
    }
    found
}

/// The silence alarm's period and evaluation periods for a schedule whose longest gap is `gap`:
/// [`SILENT_PERIODS`] periods of the gap (whole minutes, at least one), or, for a gap over a day
/// (a weekend), days enough to cover the gap [`SILENT_PERIODS`] times, within CloudWatch's
/// seven-day look-back.
pub(super) fn silence_window(gap: Duration) -> (Duration, u32) {
    let minutes = gap.as_secs().div_ceil(60).max(1);
    let period = Duration::from_secs(minutes * 60);
    if period <= MAX_PERIOD {
        let periods = SILENT_PERIODS.min((MAX_LOOKBACK.as_secs() / period.as_secs()) as u32);
        return (period, periods.max(1));
    }
    let days = (gap.as_secs() * u64::from(SILENT_PERIODS)).div_ceil(MAX_PERIOD.as_secs());
    (MAX_PERIOD, days.clamp(1, 7) as u32)
}

/// An alarm on `stockrun_polls_total` (the dimensions, threshold and comparison are the
/// caller's).
fn polls(period: Duration, periods: u32) -> Alarm {
    Alarm {
        namespace: metrics::NAMESPACE,
        metric_name: metrics::POLLS,
        statistic: "Sum",
        ..every(period, periods)
    }
}

/// The `outcome` dimension.
fn outcome(value: &str) -> Dimension {
    Dimension {
        name: metrics::OUTCOME,
        value: Str::Literal(value.to_owned()),
    }
}

/// An alarm's shape with a period and evaluation periods (the rest is filled in by the caller).
fn every(period: Duration, periods: u32) -> Alarm {
    Alarm {
        alarm_description: String::new(),
        alarm_actions: vec![Str::when(
            HAS_ALARM_EMAIL,
            Str::reference(ALARM_TOPIC),
            Str::no_value(),
        )],
        namespace: "",
        metric_name: "",
        dimensions: Vec::new(),
        statistic: "",
        period: period.as_secs(),
        evaluation_periods: periods,
        threshold: 0.0,
        comparison_operator: "",
        treat_missing_data: "",
    }
}

fn alarm(alarm: Alarm) -> Resource {
    Resource::new("AWS::CloudWatch::Alarm", Properties::Alarm(alarm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_silence_window_covers_the_longest_gap_three_times() {
        let minute = Duration::from_secs(60);
        assert_eq!(silence_window(minute), (minute, 3));
        assert_eq!(silence_window(Duration::from_secs(90)), (2 * minute, 3));
        assert_eq!(
            silence_window(Duration::from_secs(3_600)),
            (Duration::from_secs(3_600), 3)
        );
        // A weekend (Friday 15:30 to Monday 09:15): three of it in days, capped at a week.
        assert_eq!(
            silence_window(Duration::from_secs(65 * 3_600 + 45 * 60)),
            (MAX_PERIOD, 7)
        );
        assert_eq!(
            silence_window(Duration::from_secs(30 * 3_600)),
            (MAX_PERIOD, 4)
        );
    }
}
