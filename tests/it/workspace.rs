//! A temporary workspace for running the real `stockrun` binary on a pipeline: the pipeline
//! file, a state directory, wiremock serving recorded responses, and readers for the SQLite
//! database and the outbox.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{Output, root};

/// A pipeline like `pipelines/stocks.yaml`, polling `url`; poison records are tried twice.
pub(crate) fn pipeline(url: &str, name: &str) -> String {
    pipeline_with_receives(url, name, 2)
}

pub(crate) fn pipeline_with_receives(url: &str, name: &str, max_receive_count: u32) -> String {
    format!(
        r#"name: {name}
source:
  url: {url}
  headers:
    X-RapidAPI-Key: ${{RAPIDAPI_KEY}}
  schedule: "* * * * * *"
  timeout: 2s
  records: $[*]
  errors: [$.message]
queue:
  batch_size: 10
  batch_window: 1s
  max_receive_count: {max_receive_count}
process:
  fields:
    symbol:    {{ path: $.symbol,    type: string, required: true }}
    price:     {{ path: $.lastPrice, type: number, required: true }}
    high:      {{ path: $.dayHigh,   type: number }}
    low:       {{ path: $.dayLow,    type: number }}
    quoted_at: {{ path: $.lastUpdateTime, type: timestamp, required: true, format: "%d-%b-%Y %H:%M:%S", timezone: Asia/Kolkata }}
store:
  table: stock_prices
  key:
    partition: {{ name: symbol,    value: "{{{{symbol}}}}" }}
    sort:      {{ name: quoted_at, value: "{{{{quoted_at}}}}" }}
notify:
  from: stockrun@example.com
  to: [me@example.com]
  subject: "{{{{count}}}} new quotes"
  text: |
    {{{{#each records}}}}{{{{symbol}}}}: {{{{price}}}} (high {{{{high}}}}, low {{{{low}}}}) at {{{{quoted_at}}}}
    {{{{/each}}}}
"#
    )
}

pub(crate) const API_KEY: &str = "sentinel-key-5f2a9c71e3";

/// A temporary directory with a pipeline file and a state directory.
pub(crate) struct Workspace {
    dir: tempfile::TempDir,
    /// Extra environment variables for every command (e.g. the AWS endpoint and credentials).
    env: Vec<(String, String)>,
}

impl Workspace {
    pub(crate) fn new(yaml: &str) -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("pipeline.yaml"), yaml).expect("write pipeline");
        Workspace {
            dir,
            env: Vec::new(),
        }
    }

    /// The same workspace, with `vars` set for every command it runs.
    pub(crate) fn with_env(mut self, vars: Vec<(&str, String)>) -> Workspace {
        self.env.extend(
            vars.into_iter()
                .map(|(name, value)| (name.to_owned(), value)),
        );
        self
    }

    /// The directory holding the pipeline file (and the state directory).
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub(crate) fn file(&self) -> PathBuf {
        self.dir.path().join("pipeline.yaml")
    }

    pub(crate) fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stockrun"));
        command
            .args(args)
            .arg(self.file())
            .arg("--state-dir")
            .arg(self.state())
            .current_dir(root())
            .env_clear()
            .env("RAPIDAPI_KEY", API_KEY)
            .env("STOCKRUN_LOG", "info")
            .envs(self.env.iter().map(|(name, value)| (name, value)));
        command
    }

    /// Runs `stockrun ARGS FILE --state-dir STATE` to completion.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("stockrun runs");
        let out = Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        for text in [&out.stdout, &out.stderr] {
            assert!(!text.contains(API_KEY), "the API key leaked:\n{text}");
        }
        out
    }

    pub(crate) fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("stockrun starts")
    }

    pub(crate) fn database(&self, name: &str) -> Connection {
        Connection::open(self.state().join(format!("{name}.db"))).expect("database opens")
    }

    pub(crate) fn emails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.state().join("outbox")) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("e-mail reads"))
            .collect()
    }
}

/// Every stored item's attributes, by `symbol`.
pub(crate) fn stored(db: &Connection) -> Vec<(String, Value)> {
    let mut statement = db
        .prepare("SELECT partition_key, attributes FROM items ORDER BY partition_key")
        .expect("items table");
    statement
        .query_map([], |row| {
            let attributes: String = row.get(1)?;
            Ok((
                row.get(0)?,
                serde_json::from_str(&attributes).expect("JSON"),
            ))
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

pub(crate) fn count(db: &Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |row| row.get(0)).unwrap_or(0)
}

/// Waits until `condition` holds, failing with `what` after `limit`.
pub(crate) fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) fn demo_body() -> String {
    std::fs::read_to_string(root().join("examples/responses/latest-stock-price-demo.json"))
        .expect("recorded demo response")
}

/// `n` distinct quotes in the Latest Stock Price shape, one of every `poison_every` without a price.
pub(crate) fn quotes(n: usize, poison_every: usize) -> String {
    let quotes: Vec<Value> = (0..n)
        .map(|i| {
            let price = if poison_every > 0 && i % poison_every == poison_every - 1 {
                Value::String("-".into())
            } else {
                serde_json::from_str(&format!("{}.{:02}", 100 + i, i % 100)).unwrap()
            };
            serde_json::json!({
                "symbol": format!("SYM{i:05}"),
                "lastPrice": price,
                "dayHigh": 200.5,
                "dayLow": 99.25,
                "lastUpdateTime": "18-Mar-2024 15:59:38",
            })
        })
        .collect();
    serde_json::to_string(&quotes).unwrap()
}

pub(crate) async fn serve(body: String) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/price"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&server)
        .await;
    server
}
