//! `stockrun run DIR` and `run FILE FILE…`: several pipelines in one process, each on its own
//! state, failing alone; and `--watch`: an edit that validates is reloaded without losing or
//! doubling a record, one with errors is refused with its located diagnostic and the running
//! version goes on. The real binary, wiremock sources, real SQLite files and the outbox (and moto
//! for the AWS case).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::aws_e2e::{assert_no_secret_in, initialised, item_count};
use crate::moto::{aws_at, moto_url, unique};
use crate::support::{assert_contains, root};
use crate::workspace::{
    API_KEY, Workspace, count, demo_body, pipeline, quotes, serve, stored, wait_until,
};

/// A workspace whose pipelines are in `pipelines/` (the workspace's own `pipeline.yaml` is not
/// used), with the state directory beside it.
fn workspace() -> Workspace {
    let ws = Workspace::new("");
    std::fs::create_dir(pipelines(&ws)).expect("pipelines/");
    ws
}

fn pipelines(ws: &Workspace) -> PathBuf {
    ws.dir().join("pipelines")
}

/// Writes `pipelines/NAME` with `yaml`.
fn write(ws: &Workspace, name: &str, yaml: &str) -> PathBuf {
    let file = pipelines(ws).join(name);
    std::fs::write(&file, yaml).expect("write the pipeline");
    file
}

/// `stockrun ARGS --state-dir STATE` with the API key and info logs.
fn stockrun(ws: &Workspace, args: &[&Path]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stockrun"));
    command
        .args(args)
        .arg("--state-dir")
        .arg(ws.state())
        .current_dir(root())
        .env_clear()
        .env("RAPIDAPI_KEY", API_KEY)
        .env("STOCKRUN_LOG", "info");
    command
}

/// Runs `stockrun ARGS` to completion: its exit code, stdout and stderr.
fn run(ws: &Workspace, args: &[&Path]) -> (i32, String, String) {
    let output = stockrun(ws, args).output().expect("stockrun runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert_no_secret_in(&format!("{stdout}{stderr}"));
    (output.status.code().unwrap_or(-1), stdout, stderr)
}

/// A running `stockrun` whose stderr is read as it is written.
struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn start(ws: &Workspace, args: &[&Path]) -> Running {
        let mut child = stockrun(ws, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("stockrun starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr");
        let written = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buffer = [0_u8; 4096];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                written.lock().unwrap().push_str(&text);
            }
        });
        Running { child, stderr }
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// SIGTERM, then the exit code and stdout (within 30 s).
    fn stop(mut self) -> (Option<i32>, String, String) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        wait_until(
            "stockrun exits after SIGTERM",
            Duration::from_secs(30),
            || self.child.try_wait().expect("wait").is_some(),
        );
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut stdout).expect("stdout");
        }
        let code = self.child.wait().expect("exit").code();
        // The reader thread has the rest once the pipe closes.
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log();
        assert_no_secret_in(&format!("{stdout}{log}"));
        (code, stdout, log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_runs_every_pipeline_once_each_on_its_own_state() {
    let demo = serve(demo_body()).await;
    let sixty = serve(quotes(60, 0)).await;
    let ws = workspace();
    write(
        &ws,
        "alpha.yaml",
        &pipeline(&format!("{}/price", demo.uri()), "alpha"),
    );
    write(
        &ws,
        "beta.yml",
        &pipeline(&format!("{}/price", sixty.uri()), "beta"),
    );
    // Beside pipelines, not pipelines: skipped, not refused.
    write(&ws, "alpha.test.yaml", "cases: [");
    write(&ws, "notes.txt", "not yaml");

    let (code, stdout, stderr) = run(
        &ws,
        &[Path::new("run"), &pipelines(&ws), Path::new("--once")],
    );

    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_contains(
        &stdout,
        "alpha: fetched 13 records (1 request), queued 13, stored 12, dead-lettered 1, e-mails 2",
    );
    assert_contains(
        &stdout,
        "beta: fetched 60 records (1 request), queued 60, stored 60, dead-lettered 0, e-mails 6",
    );
    let (alpha, beta) = (stored(&ws.database("alpha")), stored(&ws.database("beta")));
    assert_eq!(alpha.len(), 12);
    assert_eq!(beta.len(), 60);
    assert!(alpha.iter().all(|(symbol, _)| !symbol.starts_with("SYM")));
    assert!(beta.iter().all(|(symbol, _)| symbol.starts_with("SYM")));
    assert_eq!(ws.emails().len(), 8, "each pipeline's digests");
    // Every log line of a pipeline says which.
    assert_contains(&stderr, "pipeline{name=alpha}: starting");
    assert_contains(&stderr, "pipeline{name=beta}: starting");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_whose_source_fails_does_not_stop_the_others_and_the_exit_is_the_worst() {
    let failing = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("down"))
        .mount(&failing)
        .await;
    let good = serve(quotes(30, 0)).await;
    let ws = workspace();
    let down = write(
        &ws,
        "down.yaml",
        &pipeline(&format!("{}/price", failing.uri()), "down"),
    );
    let up = write(
        &ws,
        "up.yaml",
        &pipeline(&format!("{}/price", good.uri()), "up"),
    );

    let (code, stdout, stderr) = run(&ws, &[Path::new("run"), &down, &up, Path::new("--once")]);

    assert_eq!(
        code, 3,
        "every request of `down` failed:\n{stdout}\n{stderr}"
    );
    assert_contains(&stdout, "down: fetched 0 records");
    assert_contains(
        &stdout,
        "up: fetched 30 records (1 request), queued 30, stored 30",
    );
    assert_eq!(count(&ws.database("up"), "SELECT count(*) FROM items"), 30);

    // Long-running too: `up` stores while `down` keeps failing.
    std::fs::remove_dir_all(ws.state()).expect("fresh state");
    let running = Running::start(&ws, &[Path::new("run"), &down, &up]);
    wait_until(
        "`up` stores while `down` fails",
        Duration::from_secs(30),
        || {
            ws.state().join("up.db").exists()
                && count(&ws.database("up"), "SELECT count(*) FROM items") == 30
                && failing.received_requests().await_blocking() >= 2
        },
    );
    let (code, stdout, log) = running.stop();
    assert_eq!(code, Some(0), "{stdout}\n{log}");
    assert_contains(&log, "pipeline{name=down}");
    assert_contains(&stdout, "up: fetched ");
}

#[test]
fn an_invalid_file_or_a_shared_name_starts_nothing_and_every_error_is_listed() {
    let ws = workspace();
    let url = "http://127.0.0.1:9/price";
    let bad = pipeline(url, "bad").replace("$.lastPrice", "$.lastPrice[");
    write(&ws, "a.yaml", &bad);
    write(&ws, "b.yaml", &pipeline(url, "same"));
    write(&ws, "c.yaml", &pipeline(url, "same"));

    let (code, stdout, stderr) = run(
        &ws,
        &[Path::new("run"), &pipelines(&ws), Path::new("--once")],
    );

    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let price_line = line_of(&bad, "$.lastPrice[");
    assert_contains(&stderr, &format!("a.yaml:{price_line}:"));
    assert_contains(
        &stderr,
        "c.yaml:1:7: error: pipeline `same` has the same name as the pipeline in",
    );
    assert_contains(
        &stderr,
        "nothing started: 2 problem(s) in the 3 pipeline file(s) given",
    );
    assert!(!ws.state().exists(), "nothing ran, nothing was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_refuses_a_broken_edit_keeps_the_old_version_reloads_a_valid_one_and_starts_a_new_file()
 {
    let source = serve(demo_body()).await;
    let ws = workspace();
    let yaml = pipeline(&format!("{}/price", source.uri()), "watched");
    let file = write(&ws, "watched.yaml", &yaml);
    let running = Running::start(
        &ws,
        &[Path::new("run"), &pipelines(&ws), Path::new("--watch")],
    );
    let low_of_tcs = || {
        let ready = ws.state().join("watched.db").exists()
            && count(&ws.database("watched"), "SELECT count(*) FROM items") > 0;
        if !ready {
            return None;
        }
        stored(&ws.database("watched"))
            .into_iter()
            .find(|(symbol, _)| symbol == "TCS")
            .map(|(_, item)| item["low"].to_string())
    };
    wait_until("TCS is stored", Duration::from_secs(30), || {
        low_of_tcs().as_deref() == Some("4091.3")
    });

    let broken = yaml.replace("$.lastPrice", "$.lastPrice[");
    std::fs::write(&file, &broken).expect("edit");
    wait_until(
        "the broken edit is refused",
        Duration::from_secs(15),
        || running.log().contains("not reloaded"),
    );
    let log = running.log();
    let at = format!("watched.yaml:{}:", line_of(&broken, "$.lastPrice["));
    assert_contains(&log, &at);
    assert_contains(
        &log,
        "pipeline{name=watched}: not reloaded, the running version goes on: the new version has errors",
    );
    let polled = source.received_requests().await.map_or(0, |r| r.len());
    wait_until("the old version polls on", Duration::from_secs(15), || {
        source.received_requests().await_blocking() >= polled + 2
    });

    // `low` now reads the day's high: stored items change once the edit is reloaded.
    let edited = yaml.replace("{ path: $.dayLow,", "{ path: $.dayHigh,");
    assert_ne!(edited, yaml);
    std::fs::write(&file, &edited).expect("edit");
    wait_until(
        "the edit is reloaded and polled",
        Duration::from_secs(20),
        || low_of_tcs().as_deref() == Some("4185"),
    );

    // A file that appears in the directory starts, unless it would share a running one's state.
    write(&ws, "twin.yaml", &yaml);
    write(
        &ws,
        "second.yaml",
        &pipeline(&format!("{}/price", source.uri()), "second"),
    );
    wait_until(
        "the new file's pipeline stores",
        Duration::from_secs(20),
        || {
            ws.state().join("second.db").exists()
                && count(&ws.database("second"), "SELECT count(*) FROM items") == 12
        },
    );
    wait_until("the twin is refused", Duration::from_secs(10), || {
        running.log().contains("new pipeline file not started")
    });
    assert_contains(
        &running.log(),
        "twin.yaml:1:7: error: pipeline `watched` has the same name as the pipeline in",
    );
    let (code, stdout, log) = running.stop();
    assert_eq!(code, Some(0), "{stdout}\n{log}");
    assert_contains(&stdout, "second: fetched ");
    assert!(!stdout.contains("twin"), "{stdout}");
    assert_contains(&log, "pipeline=watched");
    assert_contains(&log, "reloaded");
    assert_eq!(
        log.matches("not reloaded").count(),
        1,
        "refused once, not every second:\n{log}"
    );
    assert_contains(&stdout, "watched: fetched ");
}

/// The source of the reload test: request `i` (from 0) answers [`PER_REQUEST`] new quotes (three
/// queue sends) until `requests` have been answered, then none: a record whose queueing a stop
/// cut short would never be fetched again.
const PER_REQUEST: usize = 25;

struct Fresh {
    served: Arc<AtomicUsize>,
    requests: usize,
}

impl Respond for Fresh {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self.served.fetch_add(1, Ordering::SeqCst);
        let quotes: Vec<Value> = if i < self.requests {
            (i * PER_REQUEST..(i + 1) * PER_REQUEST)
                .map(|n| {
                    serde_json::json!({
                        "symbol": format!("SYM{n:05}"),
                        "lastPrice": 100 + n,
                        "dayHigh": 200.5,
                        "dayLow": 99.25,
                        "lastUpdateTime": "18-Mar-2024 15:59:38",
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        ResponseTemplate::new(200).set_body_json(quotes)
    }
}

/// A reload while records keep arriving (a poll every second, each batch gathered for its
/// window): the old version's batch in hand is finished before the new one starts on the same
/// queue, so every record is stored and in exactly one e-mail, and the new subject shows in the
/// e-mails after the reload.
#[tokio::test(flavor = "multi_thread")]
async fn a_reload_under_load_loses_or_doubles_no_record() {
    const REQUESTS: usize = 8;
    let served = Arc::new(AtomicUsize::new(0));
    let source = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/price"))
        .respond_with(Fresh {
            served: Arc::clone(&served),
            requests: REQUESTS,
        })
        .mount(&source)
        .await;
    let ws = workspace();
    let yaml = pipeline(&format!("{}/price", source.uri()), "load");
    let file = write(&ws, "load.yaml", &yaml);
    let running = Running::start(&ws, &[Path::new("run"), &file, Path::new("--watch")]);
    wait_until("two polls are served", Duration::from_secs(30), || {
        served.load(Ordering::SeqCst) >= 2
    });

    std::fs::write(&file, yaml.replace("new quotes", "fresh quotes")).expect("edit");
    wait_until("the edit is reloaded", Duration::from_secs(15), || {
        running.log().contains("reloaded")
    });
    let reloaded_at = served.load(Ordering::SeqCst);
    let all = (REQUESTS * PER_REQUEST) as i64;
    wait_until("every record is stored", Duration::from_secs(30), || {
        count(&ws.database("load"), "SELECT count(*) FROM items") == all
            && count(&ws.database("load"), "SELECT count(*) FROM queue_messages") == 0
    });
    let (code, stdout, log) = running.stop();

    assert_eq!(code, Some(0), "{stdout}\n{log}");
    assert!(
        reloaded_at < REQUESTS,
        "the reload came after the load:\n{log}"
    );
    let db = ws.database("load");
    assert_eq!(count(&db, "SELECT count(*) FROM items"), all);
    assert_eq!(count(&db, "SELECT count(*) FROM dead_letters"), 0);
    let emails = ws.emails();
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for line in emails.iter().flat_map(|e| e.lines()) {
        if let Some(symbol) = line.split(':').next().filter(|w| w.starts_with("SYM")) {
            *times.entry(symbol.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(
        times.len(),
        REQUESTS * PER_REQUEST,
        "every record e-mailed:\n{log}"
    );
    assert!(
        times.values().all(|&n| n == 1),
        "a record e-mailed twice: {times:?}"
    );
    let subjects: Vec<&str> = emails
        .iter()
        .flat_map(|e| e.lines())
        .filter(|l| l.starts_with("Subject:"))
        .collect();
    assert!(
        subjects.iter().any(|s| s.ends_with("new quotes")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.ends_with("fresh quotes")),
        "{subjects:?}"
    );
}

/// On AWS each pipeline keeps its own queue and table in one process.
#[tokio::test(flavor = "multi_thread")]
async fn on_aws_each_pipeline_of_one_run_uses_its_own_queue_and_table() {
    let (one, two) = (unique("many-one"), unique("many-two"));
    let (first, second) = (serve(quotes(20, 0)).await, serve(quotes(30, 0)).await);
    let ws = initialised(&format!("{}/price", first.uri()), &one, 3);
    let other = initialised(&format!("{}/price", second.uri()), &two, 3);
    std::fs::copy(other.file(), ws.dir().join("second.yaml")).expect("copy the pipeline");

    // The workspace appends its own file: both pipelines in one run.
    let mut command = ws.command(&["run", "--once", "--backend", "aws"]);
    let dir_run = command
        .arg(ws.dir().join("second.yaml"))
        .output()
        .expect("stockrun runs");
    let stdout = String::from_utf8_lossy(&dir_run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&dir_run.stderr).into_owned();
    assert_no_secret_in(&format!("{stdout}{stderr}"));

    assert_eq!(dir_run.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_contains(&stdout, &format!("{one}: fetched 20 records"));
    assert_contains(&stdout, &format!("{two}: fetched 30 records"));
    assert_contains(&stdout, "AWS requests ");
    let aws = aws_at(&moto_url()).await;
    assert_eq!(item_count(&aws, &one).await, 20);
    assert_eq!(item_count(&aws, &two).await, 30);
}

/// The 1-based line of `text` holding `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|line| line.contains(needle))
        .expect("the needle is in the text")
        + 1
}

/// `received_requests` of a wiremock server from a synchronous wait.
trait AwaitBlocking {
    fn await_blocking(self) -> usize;
}

impl<F: Future<Output = Option<Vec<Request>>>> AwaitBlocking for F {
    fn await_blocking(self) -> usize {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current()
                .block_on(self)
                .map_or(0, |r| r.len())
        })
    }
}
