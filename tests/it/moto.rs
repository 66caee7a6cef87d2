//! Helpers for the tests that talk to AWS through a real `moto_server` (SQS, DynamoDB, SES v2
//! over the AWS wire protocol; DESIGN.md §7).
//!
//! scripts/test installs the pinned `moto[server]` (scripts/requirements-test.in) into
//! .venv-test, starts `moto_server -H 127.0.0.1 -p PORT` on a free port, stops it on exit and
//! exports `STOCKRUN_TEST_MOTO_URL=http://127.0.0.1:PORT`. Without that variable [`moto_url`]
//! panics with the install hint: a missing moto is a failure, never a silent skip.
//!
//! **One moto for every test, never reset between tests.** The tests of this binary run in
//! parallel threads of one process against the same server, so a reset would wipe the queues,
//! tables and identities of the tests running beside it. Instead every test names its own
//! resources with [`unique`] (its own queue and DLQ, table, sender identity, e-mail subject) and
//! looks only at those; [`sent_emails`] returns every test's e-mails, so pick yours by your
//! unique sender or subject. [`reset`] exists for a test that runs alone (its own test binary or
//! an `#[ignore]`d test run by name with `--test-threads=1`).
//!
//! Test code stays endpoint-neutral: it reaches the server only through `AWS_ENDPOINT_URL` (see
//! [`aws_env`]) and the SDK, except for the `/moto-api/...` introspection here.
//!
//! The helpers block (a small current-thread tokio runtime on a thread of its own drives
//! `reqwest`), so they can be called from plain `#[test]`s and from `#[tokio::test]`s alike;
//! blocking an async test for the few milliseconds moto takes to answer is harmless, since moto is
//! another process.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::{Credentials, Region};
use reqwest::Method;
use serde_json::Value;
use stockrun::aws::Aws;

/// The variable scripts/test sets to the running moto_server's base URL.
pub(crate) const MOTO_URL_VAR: &str = "STOCKRUN_TEST_MOTO_URL";

/// The secret access key [`aws_env`] hands a child process: moto accepts any, and this one is
/// easy to grep for, so tests can assert it is never printed or logged.
pub(crate) const SECRET_ACCESS_KEY: &str = "moto-secret-do-not-print-7d1e";

/// The region [`aws_env`] sets (moto keeps resources per region).
pub(crate) const REGION: &str = "us-east-1";

/// The base URL of the moto_server the tests use (`http://127.0.0.1:PORT`, no trailing `/`).
///
/// Panics with how to get one when `STOCKRUN_TEST_MOTO_URL` is not set.
#[track_caller]
pub(crate) fn moto_url() -> String {
    match std::env::var(MOTO_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_owned(),
        _ => panic!(
            "{MOTO_URL_VAR} is not set: run the tests through scripts/test, which starts a pinned \
             moto_server (pip install 'moto[server]==5.2.5' && moto_server -H 127.0.0.1 -p 5000, \
             then {MOTO_URL_VAR}=http://127.0.0.1:5000)"
        ),
    }
}

/// The environment a child `stockrun` process needs to use moto at `url` as its AWS: the
/// endpoint, a region, static credentials (the secret is [`SECRET_ACCESS_KEY`]) and no instance
/// metadata look-up. Pass it to `support::stockrun`, which starts the child with only these.
pub(crate) fn aws_env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", url.to_owned()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}

/// A resource name no other test uses: `PREFIX-PID-COUNTER-RANDOM`, e.g. `quotes-41873-3-9f2c1a`.
///
/// The process id and counter keep the tests of one run apart; the random part keeps apart runs
/// against a moto that outlives them (one started by hand and reused, where process ids repeat).
/// Only `[A-Za-z0-9_-]`, so the name is valid for an SQS queue (at most 80 characters: keep
/// `prefix` under about 55), a DynamoDB table and the local part of an e-mail address.
#[track_caller]
pub(crate) fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    assert!(
        !prefix.is_empty()
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "unique({prefix:?}): use only ASCII letters, digits, `-` and `_`"
    );
    let counter = NEXT.fetch_add(1, Ordering::Relaxed);
    // std's randomly keyed hasher, fed the clock: random enough to tell runs apart.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let random = hasher.finish() & 0xff_ffff;
    let name = format!("{prefix}-{}-{counter}-{random:06x}", std::process::id());
    assert!(
        name.len() <= 80,
        "unique({prefix:?}) = {name:?} is longer than an SQS queue name may be (80)"
    );
    name
}

/// Clears all of moto's state (`POST /moto-api/reset`): every queue, table, identity and e-mail,
/// of every test. Only for a test that runs alone; the parallel tests use [`unique`] names instead
/// (see the module doc).
#[allow(dead_code)] // for a test that runs alone; none does yet
#[track_caller]
pub(crate) fn reset() {
    let (status, body) = request(Method::POST, "/moto-api/reset");
    assert_eq!(status, 200, "POST /moto-api/reset: {body}");
}

/// moto's whole state as JSON (`GET /moto-api/data.json`): `{service: {model: [object, ...]}}`,
/// over all accounts and regions; `{}` until some service has been used.
#[track_caller]
pub(crate) fn data() -> Value {
    // moto 5.2.5 answers 500 when a table gets its first item while it serialises its state
    // (another test writing); a moment later it answers.
    let (mut status, mut body) = request(Method::GET, "/moto-api/data.json");
    for _ in 0..20 {
        if status != 500 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        (status, body) = request(Method::GET, "/moto-api/data.json");
    }
    assert_eq!(status, 200, "GET /moto-api/data.json: {body}");
    match serde_json::from_str(&body) {
        Ok(data) => data,
        Err(e) => panic!("GET /moto-api/data.json is not JSON ({e}): {body}"),
    }
}

/// Every e-mail moto has accepted through SES v2 (or SES) `SendEmail` with `Simple` content, in
/// sending order, from all tests: pick yours by your [`unique`] sender or subject.
///
/// moto 5.2.5 keeps SES v2 and SES e-mails in one backend, so they are `data.json`'s
/// `ses.Message` (every region in one list), each like:
///
/// ```json
/// {
///   "id": "pcfuhanxdxpjontl-tojdntlk-egic-gyrh-miiy-ymdqhoxbqqqf-sgzvuk",
///   "source": "sender@example.com",
///   "destinations": { "ToAddresses": ["me@example.com", "ops@example.com"],
///                     "CcAddresses": ["cc@example.com"] },
///   "subject": "quotes: 2 records",
///   "body": "text, or only the HTML when the e-mail had both"
/// }
/// ```
///
/// `id` is the `MessageId` SendEmail returned; `destinations` has only the keys that were sent
/// (`ToAddresses`, `CcAddresses`, `BccAddresses`); with a text and an HTML body moto keeps only
/// the HTML. (`Raw` content goes to `ses.RawMessage` instead: `id`, `source`, `destinations` as a
/// flat list, `raw_data`.) An e-mail whose sender identity does not exist is rejected
/// (`MessageRejected`) and not listed.
#[track_caller]
pub(crate) fn sent_emails() -> Vec<Value> {
    let data = data();
    let Some(ses) = data.get("ses") else {
        return Vec::new(); // SES not used since moto started (or was reset)
    };
    match ses.get("Message") {
        Some(Value::Array(messages)) => messages.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(other) => panic!("data.json's ses.Message is not a list (moto changed?): {other}"),
    }
}

/// `METHOD {moto}{path}`: the status and body. Runs on a thread of its own with its own runtime,
/// so it works inside a `#[tokio::test]` too (a runtime cannot block inside another).
#[track_caller]
fn request(method: Method, path: &str) -> (u16, String) {
    let url = format!("{}{path}", moto_url());
    let what = format!("{method} {url}");
    let result = std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<(u16, String), String> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("tokio runtime: {e}"))?;
                runtime.block_on(async {
                    let client = reqwest::Client::builder()
                        .timeout(Duration::from_secs(30))
                        .build()
                        .map_err(|e| format!("HTTP client: {e}"))?;
                    let response = client
                        .request(method, &url)
                        .send()
                        .await
                        .map_err(|e| format!("{e:?}"))?;
                    let status = response.status().as_u16();
                    let body = response.text().await.map_err(|e| format!("body: {e}"))?;
                    Ok((status, body))
                })
            })
            .join()
            .unwrap_or_else(|_| Err("the request thread panicked".to_owned()))
    });
    match result {
        Ok(answer) => answer,
        Err(e) => panic!(
            "{what} failed: {e}\n  is moto_server running there? scripts/test starts it and \
             sets {MOTO_URL_VAR}"
        ),
    }
}

/// The helpers themselves: moto answers, data.json is JSON, and an e-mail sent through SES v2
/// with the credentials of [`aws_env`] shows up in [`sent_emails`] in the documented shape.
#[tokio::test]
async fn moto_is_reachable_and_reports_emails() {
    let url = moto_url();
    let (status, body) = request(Method::GET, "/moto-api/data.json");
    assert_eq!(status, 200, "GET /moto-api/data.json: {body}");
    let data: Value = serde_json::from_str(&body).expect("data.json is JSON");
    assert!(data.is_object(), "data.json is an object: {body}");

    // What a child process would get, used here through the SDK directly.
    let env = aws_env(&url);
    let var = |name: &str| {
        env.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("aws_env sets {name}"))
    };
    assert_eq!(var("AWS_ENDPOINT_URL"), url);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(var("AWS_ENDPOINT_URL"))
        .region(aws_sdk_sesv2::config::Region::new(var("AWS_REGION")))
        .credentials_provider(aws_sdk_sesv2::config::Credentials::new(
            var("AWS_ACCESS_KEY_ID"),
            var("AWS_SECRET_ACCESS_KEY"),
            None,
            None,
            "moto",
        ))
        .load()
        .await;
    let ses = aws_sdk_sesv2::Client::new(&config);
    let from = format!("{}@example.com", unique("moto-smoke"));
    let subject = unique("smoke-subject");
    ses.create_email_identity()
        .email_identity(&from)
        .send()
        .await
        .expect("create the sender identity");
    let sent = ses
        .send_email()
        .from_email_address(&from)
        .destination(
            aws_sdk_sesv2::types::Destination::builder()
                .to_addresses("me@example.com")
                .build(),
        )
        .content(
            aws_sdk_sesv2::types::EmailContent::builder()
                .simple(
                    aws_sdk_sesv2::types::Message::builder()
                        .subject(
                            aws_sdk_sesv2::types::Content::builder()
                                .data(&subject)
                                .build()
                                .expect("subject"),
                        )
                        .body(
                            aws_sdk_sesv2::types::Body::builder()
                                .text(
                                    aws_sdk_sesv2::types::Content::builder()
                                        .data("hello from the smoke test\n")
                                        .build()
                                        .expect("text"),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("send an e-mail");

    let emails = sent_emails();
    let email = emails
        .iter()
        .find(|e| e["subject"] == subject.as_str())
        .unwrap_or_else(|| panic!("no e-mail `{subject}` in {emails:#?}"));
    assert_eq!(email["id"], sent.message_id().expect("a message id"));
    assert_eq!(email["source"], from.as_str());
    assert_eq!(
        email["destinations"],
        serde_json::json!({ "ToAddresses": ["me@example.com"] })
    );
    assert_eq!(email["body"], "hello from the smoke test\n");
}

/// An `Aws` talking to `endpoint`, configured explicitly (not from the process environment).
pub(crate) async fn aws_at(endpoint: &str) -> Arc<Aws> {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    Aws::with_config(config)
}
