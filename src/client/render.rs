//! Rendering JSON values into URLs (pure): keys and values as path text, percent-encoded.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use super::{ClientError, NodeInfo};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is escaped, so a
/// rendered value is one path segment (or one query value) whatever it contains.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A JSON value as URL text: strings as they are, numbers in decimal, anything else as JSON.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// `text` percent-encoded as one URL component.
pub(crate) fn component(value: &Value) -> String {
    utf8_percent_encode(&text(value), COMPONENT).to_string()
}

/// The base URL of a node, without a trailing slash: `host:port` gains `http://`.
pub(crate) fn base_url(node: &NodeInfo) -> Result<String, ClientError> {
    let raw = node.http.trim();
    let bad = |reason: &str| ClientError::BadAddress {
        node: node.name.clone(),
        address: node.http.clone(),
        reason: reason.to_owned(),
    };
    if raw.is_empty() {
        return Err(bad("empty"));
    }
    let base = if raw.contains("://") {
        raw.trim_end_matches('/').to_owned()
    } else {
        format!("http://{}", raw.trim_end_matches('/'))
    };
    let url = reqwest::Url::parse(&base).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none() {
        return Err(bad("no host"));
    }
    Ok(base)
}

/// The `host:port` a URL points at, the name transports use to recognise nodes.
pub(crate) fn authority(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => url.as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_render_as_text_strings_as_is_numbers_in_decimal() {
        assert_eq!(text(&json!("x")), "x");
        assert_eq!(text(&json!(12)), "12");
        assert_eq!(text(&json!(-1.5)), "-1.5");
        assert_eq!(text(&json!(true)), "true");
        assert_eq!(text(&json!([1, "a"])), r#"[1,"a"]"#);
    }

    #[test]
    fn components_escape_everything_but_unreserved() {
        assert_eq!(component(&json!("a b/c?d#e%f")), "a%20b%2Fc%3Fd%23e%25f");
        assert_eq!(component(&json!("Az09-._~")), "Az09-._~");
        assert_eq!(component(&json!("é")), "%C3%A9");
        assert_eq!(component(&json!(7)), "7");
    }

    #[test]
    fn base_urls_gain_a_scheme_and_lose_the_trailing_slash() {
        let node = |http: &str| NodeInfo {
            name: "n1".into(),
            http: http.into(),
        };
        assert_eq!(
            base_url(&node("127.0.0.1:7001")).ok().as_deref(),
            Some("http://127.0.0.1:7001")
        );
        assert_eq!(
            base_url(&node("http://localhost:80/")).ok().as_deref(),
            Some("http://localhost:80")
        );
        let err = base_url(&node("ftp://x")).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(r#"node n1: bad address "ftp://x": the scheme must be http or https"#)
        );
        assert!(base_url(&node("")).is_err());
        assert!(base_url(&node("http://[::1")).is_err());
    }

    #[test]
    fn authority_includes_the_default_port() {
        let url = |s: &str| reqwest::Url::parse(s).ok();
        assert_eq!(
            url("http://127.0.0.1:7001/kv/x").map(|u| authority(&u)),
            Some("127.0.0.1:7001".to_owned())
        );
        assert_eq!(
            url("http://example.org/").map(|u| authority(&u)),
            Some("example.org:80".to_owned())
        );
    }
}
