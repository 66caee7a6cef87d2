//! The engine on price series: fire once, re-arm, cooldown, expiry, resolved mails, late and
//! repeated records, windows; and `replay` deciding exactly as record-by-record evaluation.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Arrival, Engine, Step};
use crate::alert::replay::replay_series;
use crate::alert::rules::Rules;
use crate::alert::{Alert, AlertKind, Fields, SeriesState};
use crate::config::Pipeline;
use crate::config::env::Environment;
use crate::config::load::{UnsetVariables, check};

/// A pipeline of quotes (symbol, price, quoted_at) with these `notify.rules` lines.
fn rules(rules_yaml: &str) -> Rules {
    let indented: String = rules_yaml
        .lines()
        .map(|line| format!("    {line}\n"))
        .collect();
    let text = format!(
        "name: test\nsource:\n  url: https://api.example.com/q\n  records: $[*]\n\
         process:\n  fields:\n    symbol: {{ path: $.symbol, required: true }}\n\
         \x20   price: {{ path: $.price, type: number, required: true }}\n\
         \x20   volume: {{ path: $.volume, type: integer }}\n\
         \x20   quoted_at: {{ path: $.t, type: timestamp, required: true }}\n\
         store:\n  table: quotes\n  key:\n    partition: {{ name: symbol, value: \"{{{{symbol}}}}\" }}\n\
         \x20   sort: {{ name: quoted_at, value: \"{{{{quoted_at}}}}\" }}\n\
         notify:\n  from: a@example.com\n  to: [b@example.com]\n  rules:\n{indented}"
    );
    let checked = check(
        text.as_bytes(),
        &Environment::default(),
        UnsetVariables::Deny,
    );
    let pipeline: Pipeline = checked
        .pipeline
        .unwrap_or_else(|| panic!("invalid pipeline {:#?}\n{text}", checked.diagnostics));
    let notify = pipeline.notify.as_ref().expect("notify");
    match Rules::new(notify, &pipeline.process, &pipeline.store, "test") {
        Ok((rules, _warnings)) => rules,
        Err(errors) => panic!("rules do not compile: {errors:#?}"),
    }
}

/// A quote of INFY at minute `minute` of a day.
fn quote(minute: u32, price: f64) -> (String, Fields) {
    let at = format!("2024-03-19T09:{minute:02}:00.000Z");
    let mut fields = Fields::new();
    fields.insert("symbol".into(), json!("INFY"));
    fields.insert("quoted_at".into(), Value::String(at.clone()));
    fields.insert("price".into(), json!(price));
    fields.insert("inserted_at".into(), json!("2024-03-19T10:00:00.000Z"));
    (at, fields)
}

fn now() -> DateTime<Utc> {
    "2024-03-20T00:00:00Z".parse().unwrap()
}

const MOVE: &str = "big_move:\n  when: abs(price - prev.price) / prev.price > 0.02\n  \
                    subject: '{{symbol}} moved to {{price}}'\n  text: 'from {{prev.price}}'";

/// Evaluates `quotes` in order through one series' state, as the live path does for records
/// that arrive in order; returns (rule, kind, minute) of each alert.
fn live(rules: &Rules, quotes: &[(String, Fields)]) -> Vec<Alert> {
    let engine = Engine::new(rules, "inserted_at");
    let mut state = SeriesState::default();
    let mut history: Vec<Fields> = Vec::new();
    let mut alerts = Vec::new();
    for (sort, fields) in quotes {
        let arrival = engine.arrival(&state, sort, fields);
        if arrival == Arrival::Repeat {
            continue;
        }
        let prev = state.last.as_ref().map(|last| last.fields.clone());
        let refs: Vec<&Fields> = history.iter().collect();
        let step = Step {
            sort,
            fields,
            prev: prev.as_ref(),
            history: &refs,
        };
        alerts.extend(engine.evaluate(&mut state, "INFY", arrival, &step, now()));
        history.push(fields.clone());
    }
    alerts
}

fn summary(alerts: &[Alert]) -> Vec<(String, AlertKind, String)> {
    alerts
        .iter()
        .map(|a| (a.rule.clone(), a.kind, a.sort[11..16].to_owned()))
        .collect()
}

fn fired(rule: &str, at: &str) -> (String, AlertKind, String) {
    (rule.to_owned(), AlertKind::Fired, at.to_owned())
}

fn resolved(rule: &str, at: &str) -> (String, AlertKind, String) {
    (rule.to_owned(), AlertKind::Resolved, at.to_owned())
}

#[test]
fn a_rule_fires_once_rearms_when_false_and_fires_again() {
    let rules = rules(MOVE);
    let quotes = [
        quote(0, 100.0),
        quote(1, 103.0), // +3 %: fires
        quote(2, 106.5), // +3.4 %: still true, fired already: nothing
        quote(3, 106.6), // calm: re-arms (no resolved mail configured)
        quote(4, 110.0), // +3.2 %: fires again
    ];
    let alerts = live(&rules, &quotes);
    assert_eq!(
        summary(&alerts),
        [fired("big_move", "09:01"), fired("big_move", "09:04")]
    );
    assert_eq!(alerts[0].subject, "INFY moved to 103.0");
    assert_eq!(alerts[0].text, "from 100.0");
}

#[test]
fn a_resolved_mail_goes_out_when_the_rule_rearms() {
    let rules = rules(&format!(
        "{MOVE}\n  resolved: {{ subject: '{{{{symbol}}}} calm at {{{{price}}}}', text: 'ok' }}"
    ));
    let alerts = live(&rules, &[quote(0, 100.0), quote(1, 103.0), quote(2, 103.1)]);
    assert_eq!(
        summary(&alerts),
        [fired("big_move", "09:01"), resolved("big_move", "09:02")]
    );
    assert_eq!(alerts[1].subject, "INFY calm at 103.1");
}

#[test]
fn a_rearm_condition_holds_the_rule_until_the_value_moved_back() {
    let rules =
        rules("level:\n  when: price > 105.0\n  rearm: price < 100.0\n  subject: s\n  text: t");
    let quotes = [
        quote(0, 106.0), // fires
        quote(1, 104.0), // below the level, but not back under 100: still fired
        quote(2, 106.0), // nothing
        quote(3, 99.0),  // re-arms
        quote(4, 106.0), // fires again
    ];
    assert_eq!(
        summary(&live(&rules, &quotes)),
        [fired("level", "09:00"), fired("level", "09:04")]
    );
}

#[test]
fn a_cooldown_keeps_a_rearmed_rule_quiet_for_its_period_by_record_time() {
    let rules = rules("level:\n  when: price > 105.0\n  cooldown: 10m\n  subject: s\n  text: t");
    let quotes = [
        quote(0, 106.0),  // fires
        quote(1, 100.0),  // re-arms
        quote(2, 106.0),  // true, but 2 minutes after the firing: cooling
        quote(9, 106.0),  // still cooling (9 min)
        quote(10, 106.0), // 10 min: fires
    ];
    assert_eq!(
        summary(&live(&rules, &quotes)),
        [fired("level", "09:00"), fired("level", "09:10")]
    );
}

#[test]
fn an_expired_rule_fires_no_more() {
    let rules = rules(
        "level:\n  when: price > 105.0\n  expires: 2024-03-19T09:02:00Z\n  subject: s\n  text: t",
    );
    let quotes = [
        quote(0, 106.0),
        quote(1, 100.0),
        quote(2, 106.0),
        quote(3, 100.0),
        quote(4, 107.0),
    ];
    assert_eq!(summary(&live(&rules, &quotes)), [fired("level", "09:00")]);
}

#[test]
fn without_a_previous_record_the_rule_is_skipped_and_nothing_else_happens() {
    let rules = rules(MOVE);
    let engine = Engine::new(&rules, "inserted_at");
    let mut state = SeriesState::default();
    let (sort, fields) = quote(0, 100.0);
    let step = Step {
        sort: &sort,
        fields: &fields,
        prev: None,
        history: &[],
    };
    let alerts = engine.evaluate(&mut state, "INFY", Arrival::New, &step, now());
    assert!(alerts.is_empty());
    assert_eq!(
        state.last.as_ref().map(|last| last.sort.as_str()),
        Some(sort.as_str())
    );
    assert!(state.rules.get("big_move").is_none_or(|rule| !rule.firing));
}

#[test]
fn a_repeated_record_is_not_new_and_a_changed_one_with_the_same_key_is_late() {
    let rules = rules(MOVE);
    let engine = Engine::new(&rules, "inserted_at");
    let mut state = SeriesState::default();
    let (sort, fields) = quote(0, 100.0);
    let step = Step {
        sort: &sort,
        fields: &fields,
        prev: None,
        history: &[],
    };
    engine.evaluate(&mut state, "INFY", Arrival::New, &step, now());
    let mut again = fields.clone();
    again.insert("inserted_at".into(), json!("2024-03-19T11:00:00.000Z"));
    assert_eq!(engine.arrival(&state, &sort, &again), Arrival::Repeat);
    again.insert("price".into(), json!(101.0));
    assert_eq!(engine.arrival(&state, &sort, &again), Arrival::Late);
    let (later, later_fields) = quote(1, 100.0);
    assert_eq!(engine.arrival(&state, &later, &later_fields), Arrival::New);
    let (earlier, earlier_fields) = quote(0, 1.0);
    let _ = earlier;
    assert_eq!(
        engine.arrival(&state, "2024-03-19T08:59:00.000Z", &earlier_fields),
        Arrival::Late
    );
}

#[test]
fn a_redelivered_record_is_a_repeat_even_after_newer_records_were_evaluated() {
    // Found by bench/soak: a consumer killed after the commit and before the acknowledgement
    // left 09:02 to be delivered again after 09:03 was evaluated. Taken for a late record, it
    // fired `high` (armed again since 09:03) for a record whose first evaluation did not fire,
    // and left the rule firing, so 09:05 did not fire when it should have.
    let rules =
        rules("high:\n  when: price > 100.0\n  subject: '{{symbol}} at {{price}}'\n  text: 'high'");
    let engine = Engine::new(&rules, "inserted_at");
    let mut state = SeriesState::default();
    let mut alerts = Vec::new();
    let evaluate =
        |state: &mut SeriesState, alerts: &mut Vec<Alert>, (sort, fields): &(String, Fields)| {
            let arrival = engine.arrival(state, sort, fields);
            if arrival != Arrival::Repeat {
                let prev = state.last.as_ref().map(|last| last.fields.clone());
                let step = Step {
                    sort,
                    fields,
                    prev: prev.as_ref(),
                    history: &[],
                };
                alerts.extend(engine.evaluate(state, "INFY", arrival, &step, now()));
            }
            arrival
        };
    for quote in [
        quote(0, 90.0),
        quote(1, 110.0),
        quote(2, 140.0),
        quote(3, 95.0),
    ] {
        evaluate(&mut state, &mut alerts, &quote);
    }
    let (sort, mut again) = quote(2, 140.0);
    again.insert("inserted_at".into(), json!("2024-03-19T11:00:00.000Z"));
    assert_eq!(
        evaluate(&mut state, &mut alerts, &(sort.clone(), again.clone())),
        Arrival::Repeat
    );
    assert_eq!(
        evaluate(&mut state, &mut alerts, &quote(5, 110.0)),
        Arrival::New
    );
    assert_eq!(
        summary(&alerts),
        [fired("high", "09:01"), fired("high", "09:05")]
    );
    // A correction of a recent record (other values, same key) is still evaluated, as late.
    again.insert("price".into(), json!(141.0));
    assert_eq!(engine.arrival(&state, &sort, &again), Arrival::Late);
    // The state remembers at most RECENT records.
    for minute in 6..40 {
        evaluate(&mut state, &mut alerts, &quote(minute, 90.0));
    }
    assert_eq!(state.recent.len(), super::RECENT);
}

#[test]
fn a_late_record_can_fire_against_its_own_previous_but_never_rearms_or_moves_the_latest() {
    let rules = rules(MOVE);
    let engine = Engine::new(&rules, "inserted_at");
    let mut state = SeriesState::default();
    for (sort, fields) in [quote(0, 100.0), quote(5, 100.5)] {
        let prev = state.last.as_ref().map(|last| last.fields.clone());
        let step = Step {
            sort: &sort,
            fields: &fields,
            prev: prev.as_ref(),
            history: &[],
        };
        engine.evaluate(&mut state, "INFY", Arrival::New, &step, now());
    }
    // 09:03 arrives late: +4 % on 09:00, its own previous.
    let (late_sort, late_fields) = quote(3, 104.0);
    let (_, prev_fields) = quote(0, 100.0);
    let step = Step {
        sort: &late_sort,
        fields: &late_fields,
        prev: Some(&prev_fields),
        history: &[],
    };
    let alerts = engine.evaluate(&mut state, "INFY", Arrival::Late, &step, now());
    assert_eq!(summary(&alerts), [fired("big_move", "09:03")]);
    assert_eq!(
        state.last.as_ref().unwrap().sort,
        quote(5, 0.0).0,
        "latest unchanged"
    );
    // Another late calm record does not re-arm the fired rule.
    let (calm_sort, calm_fields) = quote(4, 104.1);
    let step = Step {
        sort: &calm_sort,
        fields: &calm_fields,
        prev: Some(&late_fields),
        history: &[],
    };
    assert!(
        engine
            .evaluate(&mut state, "INFY", Arrival::Late, &step, now())
            .is_empty()
    );
    assert!(state.rules["big_move"].firing);
}

#[test]
fn windows_see_the_records_before_this_one_within_their_span() {
    let rules = rules(
        "breakout:\n  when: count_over(\"3m\") >= 2 && price > max_over(price, \"3m\")\n  subject: s\n  text: t",
    );
    let quotes = [
        quote(0, 110.0),
        quote(1, 100.0),
        quote(2, 101.0),
        quote(3, 105.0), // window 09:00..09:03: max 110: no
        quote(5, 106.0), // window 09:02..09:05: 101, 105: fires
        quote(6, 107.0), // still above, fired already
    ];
    assert_eq!(
        summary(&live(&rules, &quotes)),
        [fired("breakout", "09:05")]
    );
}

#[test]
fn replay_decides_exactly_as_record_by_record_evaluation() {
    let rules = rules(&format!(
        "{MOVE}\n  cooldown: 3m\nlevel:\n  when: price > 104.0\n  rearm: price < 101.0\n  subject: s\n  text: t"
    ));
    let prices = [
        100.0, 103.0, 103.5, 99.0, 104.5, 100.0, 106.0, 106.1, 100.5, 103.0,
    ];
    let quotes: Vec<(String, Fields)> = prices
        .iter()
        .enumerate()
        .map(|(minute, price)| quote(minute as u32, *price))
        .collect();
    let engine = Engine::new(&rules, "inserted_at");
    let replayed = replay_series(&engine, "INFY", &quotes, now());
    assert_eq!(replayed, live(&rules, &quotes));
    assert!(
        replayed.len() >= 4,
        "the series exercises the rules: {replayed:#?}"
    );
}
