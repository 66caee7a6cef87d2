//! The AWS side: one SDK configuration per process (the standard chain: `AWS_REGION`,
//! credentials, profiles, `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_SQS` … for moto or LocalStack),
//! loaded only when a stage first needs it, and one client per service built once from it. Every
//! request the SDK sends, retries included, is counted (the run summary reports it). SDK errors
//! become text in one way, [`sdk_error_message`], whichever service they come from. Before a
//! command uses AWS, [`Aws::check`] makes sure there is a region, credentials and (when
//! `AWS_ENDPOINT_URL` is set) a reachable endpoint, and says in one line which is missing.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
// The SDK crates share these types (they come from aws-smithy); the SQS crate's re-exports name
// them for every service.
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sqs::config::{ConfigBag, Intercept, ProvideCredentials, RuntimeComponents};
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use tokio::sync::OnceCell;

/// How long [`Aws::check`] waits for a TCP connection to `AWS_ENDPOINT_URL`.
const ENDPOINT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The credential sources the SDK's default chain tries, in its order, for the error that says
/// none gave credentials.
const CREDENTIAL_SOURCES: &str = "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), \
the profile `{profile}` in ~/.aws/credentials and ~/.aws/config, web identity \
(AWS_WEB_IDENTITY_TOKEN_FILE), the ECS container endpoint, EC2 instance metadata (IMDS)";

/// Why AWS cannot be used at all: the setup, not a request, is wrong.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No region, or no credentials, or neither, in the environment or the profile.
    #[error("{}", missing_message(*region, *credentials, profile))]
    Missing {
        /// The region is missing.
        region: bool,
        /// The credential chain found nothing.
        credentials: bool,
        /// The profile looked in (`AWS_PROFILE`, else `default`).
        profile: String,
    },
    /// `AWS_ENDPOINT_URL` does not accept connections.
    #[error("cannot reach AWS_ENDPOINT_URL {endpoint}: {reason}")]
    Unreachable {
        /// The endpoint as configured.
        endpoint: String,
        /// The connection error, or that it timed out.
        reason: String,
    },
}

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

    /// Checks, once, before the first request, that AWS can be used: a region is set,
    /// credentials are found, and `AWS_ENDPOINT_URL`, when set, accepts a TCP connection within
    /// a few seconds. Without this, a missing region or credentials surface as an SDK dispatch
    /// failure naming IMDS, and an unreachable endpoint costs every request its retries.
    pub async fn check(&self) -> Result<(), SetupError> {
        let config = self.config().await;
        let region = config.region().is_none();
        let credentials = match config.credentials_provider() {
            Some(provider) => provider.provide_credentials().await.is_err(),
            None => true,
        };
        if region || credentials {
            let profile = std::env::var("AWS_PROFILE")
                .ok()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "default".to_owned());
            return Err(SetupError::Missing {
                region,
                credentials,
                profile,
            });
        }
        if let Some(endpoint) = config.endpoint_url() {
            reachable(endpoint).await?;
        }
        Ok(())
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

/// The one line of a [`SetupError::Missing`]: what is missing, what to set, and where
/// credentials were looked for.
fn missing_message(region: bool, credentials: bool, profile: &str) -> String {
    let tried = format!(
        "credential sources tried: {}",
        CREDENTIAL_SOURCES.replace("{profile}", profile)
    );
    match (region, credentials) {
        (true, false) => {
            "no AWS region: set AWS_REGION (or AWS_PROFILE, naming a profile that has a region)"
                .to_owned()
        }
        (false, _) => format!(
            "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; {tried}"
        ),
        (true, true) => format!(
            "no AWS region and no AWS credentials: set AWS_REGION (or AWS_PROFILE) and credentials; {tried}"
        ),
    }
}

/// Whether `endpoint` (a URL) accepts a TCP connection within [`ENDPOINT_CONNECT_TIMEOUT`].
async fn reachable(endpoint: &str) -> Result<(), SetupError> {
    let unreachable = |reason: String| SetupError::Unreachable {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let url = url::Url::parse(endpoint).map_err(|e| unreachable(format!("not a URL: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| unreachable("the URL has no host".to_owned()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| unreachable("the URL has no port".to_owned()))?;
    match tokio::time::timeout(
        ENDPOINT_CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!(
            "no connection within {}",
            humantime::format_duration(ENDPOINT_CONNECT_TIMEOUT)
        ))),
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

/// An SDK error as one line for a log or an error message: a service error as `Code: message`
/// (what AWS answered), anything else (no connection, timeout, an answer without an error code)
/// as its chain of causes. Unlike `DisplayErrorContext`, without the debug dump of the raw
/// response (headers and body) appended. The SDK never puts credentials in either.
pub(crate) fn sdk_error_message<E>(error: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if let Some(service) = error.as_service_error()
        && let Some(code) = service.code()
    {
        return format!("{code}: {}", service.message().unwrap_or("(no message)"));
    }
    let mut message = match error.raw_response() {
        Some(response) => format!("HTTP {}: ", response.status().as_u16()),
        None => String::new(),
    };
    message.push_str(&error.to_string());
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        // Some causes repeat their source's text; print it once.
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::{Credentials, Region};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    /// What a DynamoDB Scan sent to `uri` fails with, as [`sdk_error_message`] prints it.
    async fn scan_error_at(uri: &str) -> String {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(uri)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            // One attempt: a refused connection is not worth three.
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let error = Aws::with_config(config)
            .dynamodb()
            .await
            .scan()
            .table_name("quotes")
            .send()
            .await
            .expect_err("the scan fails");
        sdk_error_message(&error)
    }

    #[tokio::test]
    async fn a_service_error_reads_as_its_code_and_message() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(400).set_body_raw(
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"One or more parameter values were invalid"}"#,
                    "application/x-amz-json-1.0",
                ),
            )
            .mount(&server)
            .await;

        assert_eq!(
            scan_error_at(&server.uri()).await,
            "ValidationException: One or more parameter values were invalid"
        );
    }

    #[tokio::test]
    async fn an_answer_without_an_error_code_names_the_http_status() {
        let server = MockServer::start().await;

        let message = scan_error_at(&server.uri()).await;

        assert!(message.starts_with("HTTP 404: service error"), "{message}");
    }

    #[tokio::test]
    async fn no_connection_is_the_chain_of_causes_without_a_debug_dump() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();

        let message = scan_error_at(&format!("http://127.0.0.1:{port}")).await;

        assert!(
            message.starts_with("dispatch failure")
                && message.contains("Connection refused")
                && !message.contains("DispatchFailure("),
            "{message}"
        );
    }
}
