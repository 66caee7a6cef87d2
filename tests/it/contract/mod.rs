//! Backend contract tests: one suite of queue semantics ([`queue`]), one of store semantics
//! ([`store`]), one of the alert ledger ([`ledger`]) and one of the feed status
//! ([`feed_status`]), each case written once against the `Queue` / `Store` / `AlertLedger` /
//! `FeedStatusStore` trait and run against both the embedded backend (SQLite) and
//! the AWS one (SQS / DynamoDB in moto), so the two cannot
//! drift apart unnoticed. After Vector's `run_and_assert_source_compliance`.
//!
//! [`contract_tests!`] turns the list of cases into one `#[tokio::test]` per case and backend
//! (`contract::queue::local::CASE`, `contract::queue::sqs::CASE`, ...), so a failure names the
//! backend; the embedded ones on a multi-threaded runtime, as the commands run it. Where the backends disagree, the case is marked for the one that differs with
//! `#[ignore = "known difference: ..."]` and a `// known difference:` comment saying what each does;
//! `cargo test --test it contract -- --ignored` shows the disagreement.
//!
//! Backend-specific behaviour (SQS batching by size, the 256 KiB refusal, entry failures on HTTP
//! 200, `init`, local reopening, waking a waiting receive) stays in the backend's own tests.

mod feed_status;
pub(crate) mod ledger;
mod queue;
pub(crate) mod store;

/// One `#[tokio::test]` per case and backend: `mod $embedded { fn CASE }` and
/// `mod $aws { fn CASE }`, each calling the parent's `async fn CASE(backend)` with its backend.
/// A case may carry attributes for one backend only (`aws: #[ignore = "known difference: ..."]`).
macro_rules! contract_tests {
    (
        $embedded:ident = $embedded_backend:expr, $aws:ident = $aws_backend:expr;
        $(
            $case:ident
            $(, embedded: #[$embedded_attribute:meta])*
            $(, aws: #[$aws_attribute:meta])*
            ;
        )*
    ) => {
        mod $embedded {
            use super::*;
            $(
                $(#[$embedded_attribute])*
                // Multi-threaded, as every command runs the embedded backend: its SQLite calls
                // then run in place (`sqlite::with_connection`), not on the blocking pool.
                #[tokio::test(flavor = "multi_thread")]
                async fn $case() {
                    super::$case($embedded_backend).await;
                }
            )*
        }
        mod $aws {
            use super::*;
            $(
                $(#[$aws_attribute])*
                #[tokio::test]
                async fn $case() {
                    super::$case($aws_backend).await;
                }
            )*
        }
    };
}

pub(crate) use contract_tests;
