//! Tests of `request`.

use super::*;
use crate::redact::Redactor;

#[test]
fn file_urls_keep_their_relative_path() {
    let path = |url: &str| file_path(url).unwrap();
    assert_eq!(
        path("file:responses/a%20b.json"),
        Some(PathBuf::from("responses/a b.json"))
    );
    assert_eq!(
        path("FILE:responses/../x.json"),
        Some(PathBuf::from("responses/../x.json"))
    );
    assert_eq!(path("https://h/x"), None);
    let err = file_path("file://responses/x.json").unwrap_err();
    assert!(err.help.contains("`file:responses/x.json`"), "{err:?}");
    assert!(file_path("file:").is_err());
}

#[test]
fn file_urls_cannot_leave_the_pipeline_folder() {
    for url in [
        "file:///etc/shadow",
        "file:/etc/shadow",
        "FILE:///proc/self/environ",
        "file:%2Fetc%2Fshadow",
    ] {
        let err = file_path(url).unwrap_err();
        assert!(err.message.contains("absolute path"), "{url}: {err:?}");
        assert!(err.help.contains("copy the recorded response"), "{err:?}");
    }
    for url in [
        "file:../../../../etc/shadow",
        "file:..%2F..%2Fetc%2Fshadow",
        "file:responses/../../x.json",
        "file:./..",
    ] {
        let err = file_path(url).unwrap_err();
        assert!(err.message.contains("climbs out"), "{url}: {err:?}");
    }
}

#[test]
fn only_http_schemes_are_fetched_over_the_network() {
    assert!(http_url("https://h/x").is_ok());
    assert!(http_url("ftp://h/x").unwrap_err().message.contains("`ftp`"));
    assert!(http_url("not a url").is_err());
}

#[test]
fn credential_values_become_secrets() {
    let mut secrets = Vec::new();
    let url = Url::parse("https://h/q?symbol=MSFT&apikey=abc%2Fdef123").unwrap();
    register_query_secrets(&url, &mut secrets);
    let written = |v: &str| Located::unlocated(v.to_owned());
    let key = written("key-0123456789");
    let (_, value) = header("X-Api-Key", &key, &key, &mut secrets).unwrap();
    assert!(value.is_sensitive());
    let host = written("api.example.com");
    let (_, host) = header("X-Api-Host", &host, &host, &mut secrets).unwrap();
    assert!(!host.is_sensitive());
    let mut redactor = Redactor::default();
    for secret in secrets {
        redactor.add(secret);
    }
    assert_eq!(
        redactor.redact("MSFT abc/def123 abc%2Fdef123 key-0123456789 api.example.com"),
        "MSFT <redacted> <redacted> <redacted> api.example.com"
    );
}
