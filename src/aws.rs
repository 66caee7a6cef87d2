//! The AWS side: one SDK configuration per process (the standard chain: `AWS_REGION`,
//! credentials, profiles, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SQS` … for moto or LocalStack),
//! loaded only when a stage first needs it, and one client per service built once from it. Every
//! request the SDK sends, retries included, is counted (the run summary reports it).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::SdkConfig;
use aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept, RuntimeComponents};
use tokio::sync::OnceCell;

/// Lazily built AWS clients, shared by the stages of one process.
#[derive(Default)]
pub struct Aws {
    config: OnceCell<SdkConfig>,
    sqs: OnceCell<aws_sdk_sqs::Client>,
    dynamodb: OnceCell<aws_sdk_dynamodb::Client>,
    sesv2: OnceCell<aws_sdk_sesv2::Client>,
    requests: RequestCounter,
}

impl fmt::Debug for Aws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the configuration: it holds credentials.
        f.debug_struct("Aws")
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

impl Aws {
    /// A handle that builds nothing until a client is asked for.
    pub fn new() -> Arc<Aws> {
        Arc::new(Aws::default())
    }

    /// A handle whose clients use `config` instead of the standard chain (tests: an explicit
    /// endpoint, region and credentials, without touching the process environment).
    pub fn with_config(config: SdkConfig) -> Arc<Aws> {
        Arc::new(Aws {
            config: OnceCell::new_with(Some(config)),
            ..Aws::default()
        })
    }

    /// Requests sent to AWS so far (every attempt, by every client of this process).
    pub fn requests(&self) -> u64 {
        self.requests.0.load(Ordering::Relaxed)
    }

    async fn config(&self) -> &SdkConfig {
        self.config
            .get_or_init(|| aws_config::load_defaults(aws_config::BehaviorVersion::latest()))
            .await
    }

    /// The SQS client.
    pub async fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs
            .get_or_init(|| async {
                let config = aws_sdk_sqs::config::Builder::from(self.config().await)
                    .interceptor(self.requests.clone())
                    .build();
                aws_sdk_sqs::Client::from_conf(config)
            })
            .await
    }

    /// The DynamoDB client.
    pub async fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        self.dynamodb
            .get_or_init(|| async {
                let config = aws_sdk_dynamodb::config::Builder::from(self.config().await)
                    .interceptor(self.requests.clone())
                    .build();
                aws_sdk_dynamodb::Client::from_conf(config)
            })
            .await
    }

    /// The SES v2 client.
    pub async fn sesv2(&self) -> &aws_sdk_sesv2::Client {
        self.sesv2
            .get_or_init(|| async {
                let config = aws_sdk_sesv2::config::Builder::from(self.config().await)
                    .interceptor(self.requests.clone())
                    .build();
                aws_sdk_sesv2::Client::from_conf(config)
            })
            .await
    }
}

/// Counts requests as they are sent (one per attempt).
#[derive(Clone, Debug, Default)]
struct RequestCounter(Arc<AtomicU64>);

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "stockrun::RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
