//! Telling the Lambda service why the container could not start (`POST
//! /runtime/init/error`), so the invoker sees `Runtime.InitError` with the reason instead of a
//! bare exit. `lambda_runtime` reports init errors only for SnapStart hooks, hence this one
//! request.

use std::time::Duration;

/// Reports `message` as the init error. A failure to report is logged: the process exits with
/// status 1 either way, which Lambda records too.
pub async fn report(message: &str) {
    let Some(api) = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .ok()
        .filter(|api| !api.is_empty())
    else {
        return;
    };
    let url = format!("http://{api}/2018-06-01/runtime/init/error");
    let body = serde_json::json!({
        "errorType": "Runtime.InitError",
        "errorMessage": message,
    });
    let sent = reqwest::Client::new()
        .post(&url)
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(Duration::from_secs(5))
        .body(body.to_string())
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => {
            tracing::warn!(status = %response.status(), "the runtime API refused the init error report");
        }
        Err(error) => tracing::warn!(%error, "cannot report the init error to the runtime API"),
    }
}
