//! The poll loop and `source.active`: on a test clock that moves instead of sleeping, no request
//! is made outside the active window, and the loop polls at the window's first firing. On the
//! system clock, a poll that overruns the next firing skips it rather than polling again at once.

use std::sync::{Arc, Mutex};

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::config::env::Environment;
use crate::config::load::{UnsetVariables, check};
use crate::runtime::testing::{local_queue, poller};

/// A clock whose time jumps to each wake-up; it cancels the loop instead of waking at `until` or
/// later.
struct TestClock {
    now: Mutex<DateTime<Utc>>,
    until: DateTime<Utc>,
    wakes: Mutex<Vec<DateTime<Utc>>>,
}

impl TestClock {
    fn new(now: &str, until: &str) -> TestClock {
        TestClock {
            now: Mutex::new(at(now)),
            until: at(until),
            wakes: Mutex::new(Vec::new()),
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    async fn sleep_until(&self, at: DateTime<Utc>, stop: &CancellationToken) -> bool {
        self.wakes.lock().unwrap().push(at);
        if at >= self.until {
            stop.cancel();
            return false;
        }
        *self.now.lock().unwrap() = at;
        true
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A pipeline polling `url` every minute, active on NSE hours (Mon–Fri 09:15–15:30 IST).
fn nse_pipeline(url: &str) -> crate::config::Pipeline {
    pipeline(
        url,
        r#""0 * * * * *"
  active:
    - { days: mon-fri, hours: "09:15-15:30", timezone: Asia/Kolkata }"#,
    )
}

/// A pipeline polling `url` on `schedule` (the rest of the `source` section may follow it).
fn pipeline(url: &str, schedule: &str) -> crate::config::Pipeline {
    let yaml = format!(
        r#"
name: hours
source:
  url: {url}
  schedule: {schedule}
process:
  fields:
    symbol: {{ path: $.symbol, required: true }}
store:
  table: quotes
  key:
    partition: {{ name: symbol, value: "{{{{symbol}}}}" }}
"#
    );
    check(
        yaml.as_bytes(),
        &Environment::from_pairs(Vec::<(String, String)>::new()),
        UnsetVariables::Deny,
    )
    .pipeline
    .expect("the test pipeline is valid")
}

/// Runs the loop on `clock` against an API that expects `requests` calls; returns the wakes.
async fn run(clock: &TestClock, requests: u64) -> Vec<DateTime<Utc>> {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"symbol":"X"}"#))
        .expect(requests)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let poller = poller(&nse_pipeline(&server.uri()), dir.path());
    let queue = local_queue(dir.path());
    let counters = Counters::default();
    let stop = CancellationToken::new();
    poll_on_schedule_by(clock, &poller, queue.as_ref(), None, &counters, &stop)
        .await
        .unwrap();
    assert_eq!(Counters::get(&counters.requests), requests);
    server.verify().await;
    clock.wakes.lock().unwrap().clone()
}

#[tokio::test]
async fn no_request_is_made_outside_the_active_window() {
    // From Friday 2025-03-21 15:30 IST (the close) to Monday 09:14 IST: the weekend's firings
    // are skipped, the one wake due is Monday's open.
    let clock = TestClock::new("2025-03-21T10:00:00Z", "2025-03-24T03:44:00Z");
    assert_eq!(run(&clock, 0).await, [at("2025-03-24T03:45:00Z")]);
}

#[tokio::test]
async fn the_loop_polls_from_the_opening() {
    // Monday 09:10 IST to 09:16 IST: one poll, at 09:15 IST.
    let clock = TestClock::new("2025-03-24T03:40:00Z", "2025-03-24T03:46:00Z");
    assert_eq!(
        run(&clock, 1).await,
        [at("2025-03-24T03:45:00Z"), at("2025-03-24T03:46:00Z")]
    );
}

#[tokio::test]
async fn a_poll_that_overruns_the_next_firing_skips_it_and_says_so() {
    // Every second, against an API that answers in 1.5 s: a poll at T ends at T+1.5, after the
    // firing at T+1, so the next poll is at T+2 (stacked, it would start at T+1.5).
    let server = MockServer::start().await;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let noted = Arc::clone(&arrivals);
    Mock::given(method("GET"))
        .respond_with(move |_: &wiremock::Request| {
            noted.lock().unwrap().push(std::time::Instant::now());
            ResponseTemplate::new(200)
                .set_body_string(r#"{"symbol":"X"}"#)
                .set_delay(Duration::from_millis(1_500))
        })
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let poller = poller(&pipeline(&server.uri(), r#""* * * * * *""#), dir.path());
    let queue = local_queue(dir.path());
    let counters = Counters::default();
    let stop = CancellationToken::new();
    let second_arrived = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while arrivals.lock().unwrap().len() < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "no second poll in 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.cancel();
    };
    let (polled, ()) = tokio::join!(
        poll_on_schedule(&poller, queue.as_ref(), None, &counters, &stop),
        second_arrived
    );
    polled.unwrap();

    let arrivals = arrivals.lock().unwrap().clone();
    let gap = arrivals[1] - arrivals[0];
    assert!(
        (Duration::from_millis(1_900)..Duration::from_millis(2_600)).contains(&gap),
        "the second poll came {gap:?} after the first"
    );
    assert!(Counters::get(&counters.skipped_polls) >= 1);
    assert_eq!(
        Counters::get(&counters.queued),
        1,
        "the first poll's record"
    );
}
