//! `stockrun serve`: the page of a pipeline that has run, read over HTTP (its JSON and HTML) on
//! both backends, and loaded in a real headless Chromium (the rows are in the DOM it built, and
//! its screenshot is not blank). The feeds' last polls come from the status the poller of
//! `run --once` recorded: the outcome, the records and the quota its rate-limit headers said.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::aws_e2e::initialised;
use crate::moto::unique;
use crate::support::assert_contains;
use crate::workspace::{API_KEY, Workspace, demo_body, pipeline, serve};

/// A running `stockrun serve` and the address it printed; killed when dropped.
struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Starts `stockrun serve` on a free port and waits (at most 30 s) for its address.
    fn start(ws: &Workspace, extra: &[&str]) -> Served {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = ws.spawn(&args);
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(30))
            .expect("serve prints its address within 30 s");
        let base = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Served {
            child,
            base: format!("http://{base}"),
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.base))
            .await
            .expect("the page answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    async fn page(&self) -> Value {
        let (status, body) = self.get("/page.json").await;
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains(API_KEY), "the API key leaked:\n{body}");
        serde_json::from_str(&body).expect("page.json is JSON")
    }
}

/// A workspace that ran the demo response once: 12 quotes stored, 1 dead-lettered. Its charts
/// draw the price with the day's low–high band.
async fn ran() -> (Workspace, wiremock::MockServer) {
    let server = serve(demo_body()).await;
    let yaml = pipeline(&format!("{}/price", server.uri()), "quotes")
        + "chart:\n  value: price\n  band: [low, high]\n";
    let ws = Workspace::new(&yaml);
    let out = ws.run(&["run", "--once"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    (ws, server)
}

/// The API's rate-limit headers on the answers of [`with_quota`]: 412 of 500 requests left.
const QUOTA_HEADERS: [(&str, &str); 2] = [
    ("x-ratelimit-requests-remaining", "412"),
    ("x-ratelimit-requests-limit", "500"),
];

/// An API answering `/price` with `body` and [`QUOTA_HEADERS`], and 404 for `symbol=GONE`.
async fn with_quota(body: String) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/price"))
        .and(query_param("symbol", "GONE"))
        .respond_with(ResponseTemplate::new(404).set_body_string(r#"{"message":"no such symbol"}"#))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/price"))
        .respond_with(
            ResponseTemplate::new(200)
                .append_header(QUOTA_HEADERS[0].0, QUOTA_HEADERS[0].1)
                .append_header(QUOTA_HEADERS[1].0, QUOTA_HEADERS[1].1)
                .set_body_raw(body, "application/json"),
        )
        .mount(&server)
        .await;
    server
}

/// The row of feed `label` on a page.
fn feed<'a>(page: &'a Value, label: &str) -> &'a Value {
    page["feeds"]
        .as_array()
        .expect("feeds")
        .iter()
        .find(|row| row["feed"] == label)
        .unwrap_or_else(|| panic!("no feed {label}: {page:#}"))
}

/// The labels of a page's feeds, in its order.
fn feed_labels(page: &Value) -> Vec<&str> {
    page["feeds"]
        .as_array()
        .expect("feeds")
        .iter()
        .map(|row| row["feed"].as_str().expect("a label"))
        .collect()
}

/// The row of series `key` on a page.
fn row<'a>(page: &'a Value, key: &str) -> &'a Value {
    page["series"]
        .as_array()
        .expect("series")
        .iter()
        .find(|row| row["key"] == key)
        .unwrap_or_else(|| panic!("no row for {key}"))
}

/// The series keys of a page.
fn keys(page: &Value) -> Vec<&str> {
    page["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|row| row["key"].as_str().expect("key"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_every_series_the_dead_letter_and_the_queue() {
    let (ws, _source) = ran().await;
    let served = Served::start(&ws, &[]);

    let page = served.page().await;
    assert_eq!(page["pipeline"], "quotes");
    let keys = keys(&page);
    assert_eq!(keys.len(), 12, "{page:#}");
    assert!(
        keys.windows(2).all(|pair| pair[0] < pair[1]),
        "in key order"
    );
    let columns: Vec<&str> = page["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c.as_str().expect("name"))
        .collect();
    assert_eq!(columns, ["price", "high", "low", "inserted_at"]);
    let tcs = row(&page, "TCS");
    assert_eq!(tcs["cells"][0]["value"], "4173.85", "exact digits");
    assert_eq!(page["dead_total"], 1);
    assert_contains(page["dead"][0]["reason"].as_str().expect("reason"), "price");
    assert_eq!(page["queue"]["dead"], 1);
    assert_eq!(page["queue"]["visible"], 0);

    let (status, html) = served.get("/").await;
    assert_eq!(status, 200);
    assert_contains(&html, r#"<tr data-series="TCS">"#);
    assert_contains(&html, "4173.85");
    assert!(!html.contains(API_KEY), "the API key leaked");
    let (missing, _) = served.get("/nothing-here").await;
    assert_eq!(missing, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_each_feeds_last_poll_its_quota_and_a_failed_feed() {
    let source = with_quota(demo_body()).await;
    // Hourly: the feed that answered is not silent by the time the page is read.
    let yaml = pipeline(
        &format!("{}/price?symbol={{{{symbol}}}}", source.uri()),
        "feeds",
    )
    .replace(r#"schedule: "* * * * * *""#, r#"schedule: "0 0 * * * *""#)
        + "feeds:\n  - { symbol: OK }\n  - { symbol: GONE }\n";
    let ws = Workspace::new(&yaml);
    let out = ws.run(&["run", "--once"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let served = Served::start(&ws, &[]);

    let page = served.page().await;
    assert_eq!(feed_labels(&page), ["symbol=GONE", "symbol=OK"], "by label");
    let ok = feed(&page, "symbol=OK");
    assert_eq!(ok["outcome"], "ok");
    assert_eq!(ok["state"], "ok", "{ok:#}");
    assert_eq!(ok["records"], 13);
    assert_eq!(ok["quota"], "412 / 500 (82 %)");
    assert_eq!(
        (ok["quota_remaining"].as_u64(), ok["quota_limit"].as_u64()),
        (Some(412), Some(500))
    );
    assert_eq!(ok["last_ok"], ok["polled_at"]);
    assert_contains(ok["age"].as_str().expect("an age"), " ago");
    let gone = feed(&page, "symbol=GONE");
    assert_eq!(gone["outcome"], "http_4xx");
    assert_eq!(gone["state"], "failed");
    assert_eq!(gone["records"], 0);
    assert_eq!(gone["last_ok"], "never");
    assert_eq!(gone["quota"], "—");

    let (status, html) = served.get("/").await;
    assert_eq!(status, 200);
    assert_contains(&html, r#"<tr data-feed="symbol&#x3D;GONE" class="failed">"#);
    assert_contains(&html, r#"<tr data-feed="symbol&#x3D;OK" class="ok">"#);
    assert_contains(&html, "412 / 500 (82 %)");
    assert!(!html.contains("No poll recorded yet"), "{html}");
    assert!(!html.contains("no longer in the pipeline"), "{html}");
    drop(served);

    // GONE taken out of the file: its recorded poll is no longer listed, only counted.
    let edited = std::fs::read_to_string(ws.file())
        .expect("pipeline")
        .replace("  - { symbol: GONE }\n", "");
    std::fs::write(ws.file(), edited).expect("pipeline written");
    let served = Served::start(&ws, &[]);
    let page = served.page().await;
    assert_eq!(
        feed_labels(&page),
        ["symbol=OK"],
        "only the feeds the pipeline has"
    );
    assert_eq!(page["feeds_removed"], 1);
    let (_, html) = served.get("/").await;
    assert!(!html.contains("GONE"), "{html}");
    assert_contains(
        &html,
        "1 feed(s) polled before are no longer in the pipeline and not listed.",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_feed_status_that_cannot_be_written_fails_no_poll() {
    let source = serve(demo_body()).await;
    let ws = Workspace::new(&pipeline(&format!("{}/price", source.uri()), "nostatus"));
    // A view where the status table would be: it opens, and every write to it fails.
    std::fs::create_dir_all(ws.state()).expect("state dir");
    ws.database("nostatus")
        .execute_batch("CREATE VIEW feed_status AS SELECT 1 AS feed;")
        .expect("the view");

    let out = ws.run(&["run", "--once"]);

    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_contains(&out.stdout, "stored 12");
    assert_contains(&out.stderr, "the feed status was not recorded");
}

/// A workspace that ran the demo response, then every price 1 % up a minute later: two records
/// per series.
async fn ran_twice() -> (Workspace, wiremock::MockServer) {
    let (ws, source) = ran().await;
    // Every price 1 % up, quoted a minute later: a new record per series.
    let mut quotes: Vec<Value> = serde_json::from_str(&demo_body()).expect("JSON");
    for quote in &mut quotes {
        if let Some(price) = quote["lastPrice"].as_f64() {
            quote["lastPrice"] = Value::from((price * 101.0).round() / 100.0);
        }
        quote["lastUpdateTime"] = Value::from("18-Mar-2024 16:00:38");
    }
    source.reset().await;
    wiremock::Mock::given(wiremock::matchers::path("/price"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(&quotes))
        .mount(&source)
        .await;
    let out = ws.run(&["run", "--once"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    (ws, source)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_poll_shows_how_each_price_moved_and_each_series_has_a_chart() {
    let (ws, _source) = ran_twice().await;
    let served = Served::start(&ws, &[]);
    let page = served.page().await;
    let tcs = row(&page, "TCS");
    assert_eq!(tcs["cells"][0]["value"], "4215.59");
    assert_eq!(tcs["cells"][0]["change"], "+41.74 (+1.00 %)");
    assert_eq!(tcs["cells"][0]["direction"], "up");
    assert_eq!(tcs["chart"], "/chart/TCS.png");

    let response = reqwest::get(format!("{}/chart/TCS.png", served.base))
        .await
        .expect("the chart answers");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let png = response.bytes().await.expect("a body");
    let (width, height, line) = decode(&png);
    assert_eq!((width, height), (600, 240));
    assert!(
        line > 20,
        "the price line is drawn: {line} pixels of its colour"
    );
    let (missing, _) = served.get("/chart/TCS.svg").await;
    assert_eq!(missing, 404);
}

/// The chart line's colour (`chart::draw::LINE`), give or take a little for blending.
const LINE: [u8; 3] = [31, 119, 180];

/// A PNG's width, height and how many of its pixels have the chart line's colour.
fn decode(bytes: &[u8]) -> (u32, u32, usize) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut pixels).expect("a frame");
    let channels = info.color_type.samples();
    let line = pixels[..info.buffer_size()]
        .chunks(channels)
        .filter(|pixel| {
            pixel[..3]
                .iter()
                .zip(LINE)
                .all(|(have, want)| have.abs_diff(want) <= 6)
        })
        .count();
    (info.width, info.height, line)
}

#[tokio::test(flavor = "multi_thread")]
async fn before_anything_ran_the_page_says_so_and_creates_no_state() {
    let ws = Workspace::new(&pipeline("http://127.0.0.1:9/price", "fresh"));
    let served = Served::start(&ws, &[]);
    let page = served.page().await;
    assert_contains(
        page["problems"][0].as_str().expect("a problem"),
        "Nothing has run with this state directory yet",
    );
    assert_eq!(page["feeds"], serde_json::json!([]), "no poll yet");
    let (_, html) = served.get("/").await;
    assert_contains(&html, "No poll recorded yet");
    assert!(!ws.state().exists(), "serve wrote state");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_aws_the_page_reads_dynamodb_and_sqs() {
    let name = unique("serve");
    let source = with_quota(demo_body()).await;
    let ws = initialised(&format!("{}/price", source.uri()), &name, 1);
    let out = ws.run(&["run", "--once", "--backend", "aws"]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let served = Served::start(&ws, &["--backend", "aws"]);
    let page = served.page().await;
    assert!(
        page["problems"].as_array().expect("problems").is_empty(),
        "{page:#}"
    );
    assert_eq!(keys(&page).len(), 12, "{page:#}");
    assert_eq!(page["dead_total"], 1, "{page:#}");
    assert_eq!(page["queue"]["visible"], 0);
    // The feed status, from the alert table (which a pipeline without alert rules has too).
    let only = feed(&page, "-");
    assert_eq!(only["outcome"], "ok");
    assert_eq!(only["records"], 13);
    assert_eq!(only["quota"], "412 / 500 (82 %)");
    assert_eq!(page["feeds"].as_array().map(Vec::len), Some(1));
}

/// The Chromium binary: `STOCKRUN_TEST_CHROMIUM`, else `chromium` on PATH; a clear failure
/// saying how to install it otherwise.
fn chromium() -> String {
    if let Ok(path) = std::env::var("STOCKRUN_TEST_CHROMIUM") {
        return path;
    }
    let found = Command::new("chromium").arg("--version").output();
    match found {
        Ok(output) if output.status.success() => "chromium".to_owned(),
        _ => panic!(
            "headless Chromium is needed for the page test: scripts/test installs it \
             (`apt-get install chromium` on Debian), or set STOCKRUN_TEST_CHROMIUM to a Chrome/Chromium binary"
        ),
    }
}

/// Runs headless Chromium on `url` with `args` (a fresh profile each time).
fn headless(url: &str, args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().expect("profile dir");
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,2000",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_browser_renders_the_rows_and_the_charts() {
    let (ws, _source) = ran_twice().await;
    let served = Served::start(&ws, &[]);
    let url = format!("{}/", served.base);

    let url_for_dom = url.clone();
    let dom = tokio::task::spawn_blocking(move || headless(&url_for_dom, &["--dump-dom"]))
        .await
        .expect("chromium task");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    assert_eq!(
        dom_text.matches("<tr data-series=").count(),
        12,
        "the browser's DOM has a row per series:\n{dom_text}"
    );
    assert_contains(&dom_text, "4215.59");
    assert_eq!(dom_text.matches(r#"<img src="/chart/"#).count(), 12);
    // The Feeds section: the one feed of a source without `feeds`, polled twice, answered (by
    // now maybe silent too: its schedule fires every second).
    assert_eq!(
        dom_text.matches("<tr data-feed=").count(),
        1,
        "the browser's DOM has a row per feed:\n{dom_text}"
    );
    let row = dom_text
        .split(r#"<tr data-feed="-""#)
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("the feed's row");
    assert_contains(row, r#"<td class="outcome">ok"#);
    assert_contains(row, r#"<td class="num">13</td>"#);

    let shots = tempfile::tempdir().expect("screenshot dir");
    let shot = shots.path().join("page.png");
    let argument = format!("--screenshot={}", shot.display());
    let screenshot = tokio::task::spawn_blocking(move || headless(&url, &[&argument]))
        .await
        .expect("chromium task");
    assert!(
        screenshot.status.success(),
        "{}",
        String::from_utf8_lossy(&screenshot.stderr)
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    let (width, height, line) = decode(&png);
    assert_eq!((width, height), (1280, 2000), "the window size asked for");
    // One chart's price line is about 1 000 pixels of its colour (the test above); the page's
    // first charts are within the window: their lines are on screen only when the browser
    // loaded and drew the images.
    assert!(
        line > 2_000,
        "the screenshot shows the charts' price lines: {line} pixels of their colour"
    );
}
