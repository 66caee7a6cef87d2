//! `stockrun chart` and the chart in the e-mail, end to end with the real binary: a stored price
//! series (two symbols, one alert) drawn as PNG (decoded: size, colours) and SVG (the line, the
//! series name, the alert marker, the time zone's labels); the outbox mail of a pipeline with
//! `notify.chart` parsed as MIME (the text part as without a chart, the HTML part referencing
//! the inline PNG by Content-ID); and the same on AWS (moto): the series read by Query, the
//! mail sent to SES v2 as raw content.

use std::collections::HashSet;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{Value, json};

use crate::moto::{aws_env, data, moto_url, unique};
use crate::workspace::Workspace;

/// A pipeline `name` reading `prices.json` beside it: `price` with a `low`–`high` band, sorted
/// by `quoted_at`; a rule that fires when AAA goes over 110; `notify_extra` goes into `notify`.
fn pipeline(name: &str, notify_extra: &str) -> String {
    format!(
        r#"name: {name}
source:
  url: file:prices.json
  timezone: America/New_York
  records: $[*]
queue: {{ name: {name}, batch_size: 10, batch_window: 1s }}
process:
  fields:
    symbol:    {{ path: $.symbol, type: string, required: true }}
    price:     {{ path: $.price, type: number, required: true }}
    low:       {{ path: $.low, type: number }}
    high:      {{ path: $.high, type: number }}
    volume:    {{ path: $.volume, type: integer }}
    quoted_at: {{ path: $.at, type: timestamp, required: true }}
store:
  table: {name}
  key:
    partition: {{ name: symbol, value: "{{{{symbol}}}}" }}
    sort:      {{ name: quoted_at, value: "{{{{quoted_at}}}}" }}
chart:
  value: price
  band: [low, high]
notify:
  from: {name}@example.com
  to: [me@example.com]
  {notify_extra}
  rules:
    over:
      when: symbol == "AAA" && price > 110.0
      subject: "{{{{symbol}}}} over 110"
      text: "{{{{symbol}}}} at {{{{price}}}}"
"#
    )
}

/// 30 quotes of AAA and BBB, ten minutes apart, ending an hour ago; AAA goes over 110 once.
fn prices() -> String {
    let end = Utc::now() - Duration::hours(1);
    let mut records = Vec::new();
    for i in 0..30i64 {
        let at =
            (end - Duration::minutes(10 * (29 - i))).to_rfc3339_opts(SecondsFormat::Secs, true);
        let aaa = if i == 20 {
            112.0
        } else {
            100.0 + (i % 5) as f64
        };
        let bbb = 50.0 - (i % 3) as f64;
        for (symbol, price) in [("AAA", aaa), ("BBB", bbb)] {
            records.push(json!({
                "symbol": symbol, "price": price, "low": price - 2.0, "high": price + 2.0,
                "volume": 1000 + i, "at": at,
            }));
        }
    }
    Value::Array(records).to_string()
}

/// A workspace with the prices written, after one `run --once` (stored and mailed).
fn ran(name: &str, notify_extra: &str, aws: bool) -> Workspace {
    let mut ws = Workspace::new(&pipeline(name, notify_extra));
    if aws {
        ws = ws.with_env(aws_env(&moto_url()));
    }
    std::fs::write(ws.dir().join("prices.json"), prices()).expect("prices written");
    let backend: &[&str] = if aws { &["--backend", "aws"] } else { &[] };
    if aws {
        let init = ws.run(&[&["init"], backend].concat());
        assert_eq!(init.code, 0, "{}\n{}", init.stdout, init.stderr);
    }
    let run = ws.run(&[&["run", "--once"], backend].concat());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    ws
}

/// The PNG's width, height and number of distinct colours.
fn decode_png(bytes: &[u8]) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut pixels).expect("a frame");
    let colours: HashSet<&[u8]> = pixels[..info.buffer_size()].chunks(3).collect();
    (info.width, info.height, colours.len())
}

/// The fired-alert marker's fill in an SVG (`chart::draw::FIRED`).
const FIRED_FILL: &str = "fill=\"#D62728\"";

#[test]
fn chart_draws_one_png_panel_per_series_with_the_size_asked_for() {
    let ws = ran("chart-png", "", false);
    let out_file = ws.dir().join("all.png");
    let out = ws.run(&[
        "chart",
        "-o",
        out_file.to_str().unwrap(),
        "--width",
        "800",
        "--height",
        "250",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("2 series, 60 point(s), 1 alert(s), time in America/New_York"),
        "{}",
        out.stdout
    );
    let (width, height, colours) = decode_png(&std::fs::read(&out_file).unwrap());
    assert_eq!((width, height), (800, 500));
    assert!(colours > 20, "{colours} colours: blank?");
}

#[test]
fn chart_svg_has_the_series_line_alert_marker_and_zone_labels() {
    let ws = ran("chart-svg", "", false);
    let draw = |series: &str, zone: &str, file: &str| {
        let path = ws.dir().join(file);
        let out = ws.run(&[
            "chart",
            "--series",
            series,
            "--timezone",
            zone,
            "-o",
            path.to_str().unwrap(),
        ]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        std::fs::read_to_string(path).unwrap()
    };
    let aaa = draw("AAA", "Asia/Kolkata", "aaa.svg");
    assert!(aaa.contains("AAA · price (band low–high)"), "no caption");
    assert!(!aaa.contains("BBB"), "only the series asked for");
    assert!(aaa.contains("<polyline") && aaa.contains("<polygon"));
    assert!(aaa.contains(FIRED_FILL), "no alert marker");
    assert!(aaa.contains("time (Asia/Kolkata)"));
    let bbb = draw("BBB", "UTC", "bbb.svg");
    assert!(!bbb.contains(FIRED_FILL), "BBB fired nothing");
    assert!(bbb.contains("time (UTC)"));
}

#[test]
fn chart_refuses_an_unknown_format_a_bad_band_and_an_unknown_field() {
    let ws = ran("chart-usage", "", false);
    let jpg = ws.run(&["chart", "-o", "x.jpg"]);
    assert_eq!(jpg.code, 2, "{}", jpg.stderr);
    assert!(
        jpg.stderr.contains("name a `.png` or `.svg` file"),
        "{}",
        jpg.stderr
    );
    let band = ws.run(&["chart", "--band", "low", "-o", "x.png"]);
    assert_eq!(band.code, 2, "{}", band.stderr);
    let field = ws.run(&["chart", "--value", "symbol", "-o", "x.png"]);
    assert_eq!(field.code, 2, "{}", field.stderr);
    assert!(
        field.stderr.contains("`symbol` is not a number field"),
        "{}",
        field.stderr
    );
}

/// Checks one mail with a chart: the text part is `text` (when given), the HTML part shows each
/// inline PNG by its Content-ID, and each PNG is 600 × 240 and not blank. Returns the number of
/// images.
fn check_mail_with_chart(raw: &[u8], text: Option<&str>) -> usize {
    let message = MessageParser::default().parse(raw).expect("a MIME message");
    if let Some(text) = text {
        assert_eq!(
            message.body_text(0).as_deref().map(str::trim_end),
            Some(text)
        );
    }
    let html = message.body_html(0).expect("an HTML part").into_owned();
    let mut images = 0;
    for part in message.attachments() {
        let content_type = part.content_type().expect("a content type");
        assert_eq!(
            (content_type.ctype(), content_type.subtype()),
            ("image", Some("png"))
        );
        let id = part.content_id().expect("a Content-ID");
        assert!(
            html.contains(&format!("src=\"cid:{id}\"")),
            "{id} not in {html}"
        );
        let (width, height, colours) = decode_png(part.contents());
        assert_eq!((width, height), (600, 240));
        assert!(colours > 10, "{colours} colours");
        images += 1;
    }
    images
}

#[test]
fn the_outbox_mails_carry_one_inline_png_per_series_in_them() {
    let ws = ran(
        "chart-mail",
        r#"subject: "{{count}} quotes"
  text: "{{#each records}}{{symbol}} {{price}}\n{{/each}}"
  chart: {since: 1d}"#,
        false,
    );
    let emails = ws.emails();
    // Six batch mails of 10 quotes (each with the series in it) and the alert.
    assert_eq!(emails.len(), 7, "{emails:?}");
    let mut alert_mails = 0;
    for raw in &emails {
        let message = MessageParser::default().parse(raw.as_bytes()).unwrap();
        let text = message.body_text(0).unwrap().into_owned();
        let series: HashSet<&str> = text.lines().filter_map(|l| l.split(' ').next()).collect();
        if message.subject() == Some("AAA over 110") {
            alert_mails += 1;
            assert_eq!(
                check_mail_with_chart(raw.as_bytes(), Some("AAA at 112.0")),
                1
            );
        } else {
            // The batch mail's text is compared with a mail without a chart below.
            assert_eq!(
                check_mail_with_chart(raw.as_bytes(), None),
                series.len(),
                "{text}"
            );
        }
    }
    assert_eq!(alert_mails, 1);
}

#[test]
fn the_batch_mail_text_is_the_same_with_and_without_a_chart() {
    let notify = r#"subject: "{{count}} quotes"
  text: "{{#each records}}{{symbol}} {{price}}\n{{/each}}""#;
    let plain = ran("chart-plain", notify, false);
    let charted = ran("chart-charted", &format!("{notify}\n  chart: {{}}"), false);
    let texts_of = |ws: &Workspace| -> Vec<String> {
        let mut texts: Vec<String> = ws
            .emails()
            .iter()
            .filter(|e| e.contains(" quotes\r\n") || e.contains(" quotes\n"))
            .map(|e| {
                let message = MessageParser::default().parse(e.as_bytes()).unwrap();
                // A part of a multipart body ends with the line break before the boundary.
                message.body_text(0).unwrap().trim_end().to_owned()
            })
            .collect();
        texts.sort();
        texts
    };
    let (plain, charted) = (texts_of(&plain), texts_of(&charted));
    assert_eq!(plain.len(), 6);
    assert_eq!(plain, charted);
    assert!(plain.iter().all(|t| t.starts_with("AAA 1")), "{plain:?}");
}

#[tokio::test]
async fn on_aws_chart_reads_each_series_by_query_and_ses_gets_the_chart_as_raw_content() {
    let name = unique("chart-aws");
    let ws = ran(&name, "chart: {}", true);
    let path = ws.dir().join("aaa.svg");
    let out = ws.run(&[
        "chart",
        "--backend",
        "aws",
        "--series",
        "AAA",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("1 series, 30 point(s), 1 alert(s)"),
        "{}",
        out.stdout
    );
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("AAA · price") && svg.contains(FIRED_FILL));
    // Every series would need a scan: refused.
    let all = ws.run(&["chart", "--backend", "aws", "-o", path.to_str().unwrap()]);
    assert_eq!(all.code, 2, "{}", all.stderr);
    assert!(all.stderr.contains("--series"), "{}", all.stderr);
    // The alert's mail went to SES v2 as raw content, with its chart.
    let sender = format!("{name}@example.com");
    let raw: Vec<String> = data()["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|m| m["source"].as_str() == Some(&sender))
        .map(|m| m["raw_data"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(raw.len(), 1, "one alert mail");
    assert_eq!(
        check_mail_with_chart(raw[0].as_bytes(), Some("AAA at 112.0")),
        1
    );
}

/// Times in the fixtures are RFC 3339; keep the helper honest.
#[test]
fn prices_span_five_hours_ending_an_hour_ago() {
    let prices: Vec<Value> = serde_json::from_str(&prices()).unwrap();
    let at = |i: usize| DateTime::parse_from_rfc3339(prices[i]["at"].as_str().unwrap()).unwrap();
    assert_eq!(at(prices.len() - 1) - at(0), Duration::minutes(290));
}
