//! The only I/O of the HTTP clients: send one request, follow bounded redirects, and report an
//! [`Exchange`] that says exactly what is known about whether the request reached a server.
//!
//! reqwest's own redirect following is off: it would hide which node answered and turn a
//! redirect loop into an error whose meaning (sent or not?) is lost. Here a hop is followed
//! only on an answer that says "nothing was done here, ask there" (307/308 with a `Location`,
//! or a target-specific leader hint), so the final answer alone decides the outcome.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, Url};
use serde_json::Value;

use super::mapping::Exchange;
use super::render::authority;
use super::ClientError;

/// Asks a target-specific question of an answer that was not a 307/308: "is this a refusal
/// that names another node to ask?" (raftkv's 421 names the leader by id).
pub(crate) trait Hint: Send + Sync {
    /// Where to resend the request that got `status`/`body` at `url`, if anywhere.
    fn redirect(&self, status: u16, body: &str, url: &Url) -> Option<Url>;
}

/// A request body, filled in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// Sent as `application/json`.
    Json(Value),
    /// Sent as `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
    /// Sent as `text/plain; charset=utf-8`.
    Text(String),
}

/// One request to send.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    /// The HTTP method.
    pub method: Method,
    /// Where to send it first.
    pub url: Url,
    /// The body, if any.
    pub body: Option<Body>,
    /// This request's own headers, sent instead of a spec-wide header of the same name.
    pub headers: Vec<(String, String)>,
    /// The most time the whole exchange (every hop) may take.
    pub timeout: Duration,
    /// How many redirects to follow at most.
    pub max_redirects: u32,
}

/// The result of sending: what is known, and who answered (or was contacted last).
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    /// What the wire said.
    pub exchange: Exchange,
    /// The node's name when the address is a known node, else its `host:port`.
    pub node: String,
}

/// A shared HTTP connection pool plus the names of the known nodes.
#[derive(Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    /// `host:port` → node name, to report which node served a request.
    names: Arc<HashMap<String, String>>,
    /// Sent with every request.
    headers: Arc<Vec<(String, String)>>,
}

impl Transport {
    /// A transport that knows `names` (`host:port` → node name) and sends `headers`.
    ///
    /// `connect_timeout` must be shorter than every request timeout: a connection attempt
    /// that runs out of it is certainly unsent (`fail`), while one cut short by the request
    /// timeout could not be told apart from a request lost after sending (`info`).
    pub fn new(
        names: HashMap<String, String>,
        headers: Vec<(String, String)>,
        connect_timeout: Duration,
    ) -> Result<Transport, ClientError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            // Idle connections to a node that was killed and restarted are dropped soon, so a
            // request rarely meets a dead pooled connection (hyper retries those that were
            // certainly not written; the rest end as "no answer", which is safe).
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ClientError::Setup(chain(&e)))?;
        Ok(Transport {
            http,
            names: Arc::new(names),
            headers: Arc::new(headers),
        })
    }

    /// This transport, also knowing `authority` (`host:port`) as `name` unless it knows the
    /// address already (a client's own node, when the factory was not told of it).
    pub fn knowing(&self, authority: String, name: &str) -> Transport {
        if self.names.contains_key(&authority) {
            return self.clone();
        }
        let mut names = (*self.names).clone();
        names.insert(authority, name.to_owned());
        Transport {
            names: Arc::new(names),
            ..self.clone()
        }
    }

    /// Sends `out`, following at most `out.max_redirects` hops, all within `out.timeout`.
    pub async fn send(&self, out: Outgoing, hint: Option<&dyn Hint>) -> Delivered {
        let mut contacted = self.name_of(&out.url);
        let timeout = out.timeout;
        let exchange = tokio::time::timeout(timeout, self.hops(out, hint, &mut contacted)).await;
        let exchange = exchange.unwrap_or_else(|_| Exchange::NoAnswer {
            reason: format!("no answer within {} ms", timeout.as_millis()),
        });
        Delivered {
            exchange,
            node: contacted,
        }
    }

    async fn hops(
        &self,
        out: Outgoing,
        hint: Option<&dyn Hint>,
        contacted: &mut String,
    ) -> Exchange {
        let mut url = out.url;
        let mut hops = 0u32;
        loop {
            *contacted = self.name_of(&url);
            let (exchange, location) = self
                .once(&out.method, &url, out.body.as_ref(), &out.headers)
                .await;
            let Exchange::Answered { status, body } = &exchange else {
                return exchange;
            };
            if hops >= out.max_redirects {
                return exchange;
            }
            let next = match (*status, location) {
                (307 | 308, Some(location)) => url.join(&location).ok(),
                _ => hint.and_then(|h| h.redirect(*status, body, &url)),
            };
            match next {
                Some(next) => {
                    url = next;
                    hops += 1;
                }
                None => return exchange,
            }
        }
    }

    /// One request, one answer; the `Location` header comes along for redirects.
    async fn once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Body>,
        headers: &[(String, String)],
    ) -> (Exchange, Option<String>) {
        let mut request = self.http.request(method.clone(), url.clone());
        let own = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        for (name, value) in self.headers.iter().filter(|(n, _)| !own(n)) {
            request = request.header(name, value);
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let typed = own("content-type")
            || self
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        // A content type the spec sets wins (json() and form() keep one already there).
        request = match body {
            None => request,
            Some(Body::Json(json)) => request.json(json),
            Some(Body::Form(fields)) => request.form(fields),
            Some(Body::Text(text)) if typed => request.body(text.clone()),
            Some(Body::Text(text)) => request
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(text.clone()),
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return (classify(&e), None),
        };
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        match response.bytes().await {
            Ok(bytes) => (
                Exchange::Answered {
                    status,
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                },
                location,
            ),
            Err(e) => (
                Exchange::NoAnswer {
                    reason: format!("status {status}, then the answer broke off: {}", chain(&e)),
                },
                None,
            ),
        }
    }

    fn name_of(&self, url: &Url) -> String {
        let authority = authority(url);
        self.names.get(&authority).cloned().unwrap_or(authority)
    }
}

/// What a failed send means: a connect error (refused, DNS, connect timeout) or a request that
/// could not be built certainly never reached the server; anything else may have.
fn classify(e: &reqwest::Error) -> Exchange {
    let reason = chain(e);
    if e.is_connect() || e.is_builder() {
        Exchange::NotSent { reason }
    } else {
        Exchange::NoAnswer { reason }
    }
}

/// An error and its causes, `outer: inner: innermost`, without repeats (URL included: the
/// history's error field has no other place for it).
fn chain(e: &reqwest::Error) -> String {
    crate::net::cause::chain(e)
}
