//! The templated HTTP client against a tiny in-test HTTP server on 127.0.0.1: every status
//! mapping (ok / fail / info), timeouts against a server that never answers, a connection
//! closed after the request was sent, connect refused, redirects, and what goes on the wire.
//!
//! The server reads the op's key as a command: `200`, `404`, `409`, `503`, ... answer with
//! that status; `hang` never answers; `drop` closes the connection after reading the request;
//! `hop` redirects to `200` on the same server, `away` to the second server, `loop` to itself.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faultline::client::{
    Client, ClientFactory, Completion, HttpFactory, HttpSpec, Invocation, NodeInfo,
};
use faultline::history::Outcome;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The spec under test: statuses chosen to exercise every list, a short timeout.
const SPEC: &str = r#"
name = "test-service"
register_key = "200"
timeout_ms = 500
follow_redirects = 2
headers = { "x-test" = "yes" }

[read]
method = "GET"
path = "/s/{key}"
value = "/data/value"
not_found = [404]
error = "/error"
fail = ["3xx", "4xx", 503]
unknown = ["5xx"]

[write]
method = "PUT"
path = "/s/{key}"
body = { value = "{value}", note = "key={key}" }
error = "/error"
fail = ["3xx", "4xx", 503]
unknown = ["5xx", 418]

[cas]
method = "POST"
path = "/s/{key}/cas"
body = { from = "{from}", to = "{to}" }
error = "/error"
ok = [200, 204]
fail = ["3xx", "4xx", 503]
unknown = ["5xx"]
"#;

/// A request as the server saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    path: String,
    body: Value,
    test_header: bool,
    /// The body as sent.
    raw: String,
    /// The request's head (request line and headers), lower-cased.
    head: String,
}

/// A one-file HTTP/1.1 server; `other` is the address `away` redirects to.
struct Server {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn serve(other: Option<String>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr").to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (log, me) = (Arc::clone(&seen), addr.clone());
    tokio::spawn(async move {
        // Ends when the test's runtime shuts down.
        while let Ok((stream, _)) = listener.accept().await {
            let (log, me, other) = (Arc::clone(&log), me.clone(), other.clone());
            tokio::spawn(async move { answer(stream, log, me, other).await });
        }
    });
    Server { addr, seen }
}

/// Reads one request and answers it according to the command in its path.
async fn answer(
    mut stream: TcpStream,
    log: Arc<Mutex<Vec<Seen>>>,
    me: String,
    other: Option<String>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or_default().to_owned();
    let path = words.next().unwrap_or_default().to_owned();
    let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
    let test_header = head.to_ascii_lowercase().contains("\r\nx-test: yes\r\n");
    log.lock().expect("log lock").push(Seen {
        method,
        path: path.clone(),
        body,
        test_header,
        raw: String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned(),
        head: head.to_ascii_lowercase(),
    });

    // A run-scoped key ("r1-200") is the same command as the bare one.
    let command = path
        .trim_start_matches("/s/")
        .trim_start_matches("r1-")
        .trim_end_matches("/cas")
        .to_owned();
    if command == "text" {
        let response = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 4\r\nconnection: close\r\n\r\n734\n";
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        return;
    }
    let (status, extra, payload) = match command.as_str() {
        "hang" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        "drop" => return,
        "hop" => (
            307,
            "Location: /s/200\r\n".to_owned(),
            json!({"error": "ask 200"}),
        ),
        "loop" => (
            307,
            "Location: /s/loop\r\n".to_owned(),
            json!({"error": "again"}),
        ),
        "away" => {
            let to = other.unwrap_or(me);
            (
                307,
                format!("Location: http://{to}/s/200\r\n"),
                json!({"error": "elsewhere"}),
            )
        }
        code => {
            let status: u16 = code.parse().unwrap_or(400);
            let payload = if (200..300).contains(&status) {
                json!({"data": {"value": {"served": status}}})
            } else {
                json!({"error": format!("status {status} from the server")})
            };
            (status, String::new(), payload)
        }
    };
    let payload = payload.to_string();
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{payload}",
        payload.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn node(name: &str, addr: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        http: addr.into(),
    }
}

fn spec() -> HttpSpec {
    HttpSpec::from_toml(SPEC, "client_http.rs").expect("the test spec is valid")
}

fn client(server: &Server, nodes: &[NodeInfo]) -> Box<dyn Client> {
    let factory = HttpFactory::new(spec(), nodes).expect("factory");
    factory.open(&node("n1", &server.addr)).expect("open")
}

fn inv(f: &str, key: &str, value: Value) -> Invocation {
    Invocation {
        f: f.into(),
        key: Some(json!(key)),
        value,
    }
}

async fn run(c: &mut Box<dyn Client>, f: &str, key: &str, value: Value) -> Completion {
    c.invoke(&inv(f, key, value)).await
}

#[tokio::test]
async fn ok_answers_and_what_goes_on_the_wire() {
    let server = serve(None).await;
    let mut c = client(&server, &[]);

    let read = run(&mut c, "read", "200", Value::Null).await;
    assert_eq!(read.outcome, Outcome::Ok);
    assert_eq!(read.value, json!({"served": 200}), "value at /data/value");
    assert_eq!(read.node.as_deref(), Some("n1"));

    let write = run(&mut c, "write", "201", json!([1, "a"])).await;
    assert_eq!(
        (write.outcome, write.value.clone()),
        (Outcome::Ok, json!([1, "a"]))
    );

    let cas = run(&mut c, "cas", "204", json!([null, 3])).await;
    assert_eq!(
        (cas.outcome, cas.value.clone()),
        (Outcome::Ok, json!([null, 3]))
    );

    let register = c
        .invoke(&Invocation {
            f: "read".into(),
            key: None,
            value: Value::Null,
        })
        .await;
    assert_eq!(
        register.outcome,
        Outcome::Ok,
        "no key uses register_key 200"
    );

    let seen = server.seen.lock().expect("lock").clone();
    let want = [
        ("GET", "/s/200", Value::Null),
        (
            "PUT",
            "/s/201",
            json!({"value": [1, "a"], "note": "key=201"}),
        ),
        ("POST", "/s/204/cas", json!({"from": null, "to": 3})),
        ("GET", "/s/200", Value::Null),
    ];
    assert_eq!(seen.len(), want.len(), "{seen:?}");
    for (got, (method, path, body)) in seen.iter().zip(want) {
        assert_eq!(
            (got.method.as_str(), got.path.as_str(), &got.body),
            (method, path, &body)
        );
        assert!(got.test_header, "the configured header is sent: {got:?}");
    }
}

/// A spec with a string codec, a form write with its own header, a text cas and text reads.
const CODEC_SPEC: &str = r#"
codec = "string"
headers = { "x-test" = "yes", "x-op" = "spec" }

[read]
method = "GET"
path = "/s/{key}"
value_format = "text"

[write]
method = "PUT"
path = "/s/{key}"
body_format = "form"
body = { value = "{value}", run = "{run}" }
headers = { "x-op" = "write" }

[cas]
method = "POST"
path = "/s/{key}/cas"
body_format = "text"
body = "{from} {to}"
"#;

#[tokio::test]
async fn codecs_form_and_text_bodies_headers_and_run_keys_on_the_wire() {
    let server = serve(None).await;
    let spec = HttpSpec::from_toml(CODEC_SPEC, "codec.toml").expect("the codec spec is valid");
    let factory = HttpFactory::new(spec, &[]).expect("factory").with_run("r1");
    assert_eq!(factory.key_prefix(), "r1-");
    let mut c = factory.open(&node("n1", &server.addr)).expect("open");

    let read = run(&mut c, "read", "text", Value::Null).await;
    assert_eq!(
        (read.outcome, read.value.clone()),
        (Outcome::Ok, json!(734)),
        "text answer \"734\" read back as the integer: {read:?}"
    );
    let write = run(&mut c, "write", "201", json!(734)).await;
    assert_eq!(
        (write.outcome, write.value.clone()),
        (Outcome::Ok, json!(734)),
        "the history keeps the workload's value"
    );
    let cas = run(&mut c, "cas", "204", json!([null, 3])).await;
    assert_eq!(cas.outcome, Outcome::Ok);

    let seen = server.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].path, "/s/r1-text", "keys carry the run's prefix");
    assert!(seen[0].head.contains("\r\nx-op: spec\r\n"), "{:?}", seen[0]);
    assert_eq!(seen[1].path, "/s/r1-201");
    assert_eq!(seen[1].raw, "run=r1&value=734", "fields in name order");
    assert!(
        seen[1]
            .head
            .contains("content-type: application/x-www-form-urlencoded"),
        "{:?}",
        seen[1]
    );
    assert!(
        seen[1].head.contains("\r\nx-op: write\r\n"),
        "{:?}",
        seen[1]
    );
    assert!(
        !seen[1].head.contains("x-op: spec"),
        "the op's header replaces the spec's"
    );
    assert!(seen[1].test_header, "the other spec-wide headers still go");
    assert_eq!(seen[2].path, "/s/r1-204/cas");
    assert_eq!(
        seen[2].raw, " 3",
        "a null from is sent as nothing, never \"null\""
    );
    assert!(
        seen[2].head.contains("content-type: text/plain"),
        "{:?}",
        seen[2]
    );
}

#[tokio::test]
async fn keys_are_percent_encoded_into_one_path_segment() {
    let server = serve(None).await;
    let mut c = client(&server, &[]);
    let done = run(&mut c, "read", "a b/c?d", Value::Null).await;
    // The server reads "a b/c?d" as no known command, so it answers 400.
    assert_eq!(done.outcome, Outcome::Fail);
    let numeric = c
        .invoke(&Invocation {
            f: "read".into(),
            key: Some(json!(200)),
            value: Value::Null,
        })
        .await;
    assert_eq!(
        numeric.outcome,
        Outcome::Ok,
        "a numeric key renders in decimal"
    );
    let seen = server.seen.lock().expect("lock").clone();
    assert_eq!(seen[0].path, "/s/a%20b%2Fc%3Fd");
    assert_eq!(seen[1].path, "/s/200");
}

#[tokio::test]
async fn each_status_list_maps_to_its_outcome() {
    let server = serve(None).await;
    let mut c = client(&server, &[]);
    // (op, key/status, value, outcome, error)
    let table = [
        ("read", "404", Value::Null, Outcome::Ok, None),
        (
            "read",
            "503",
            Value::Null,
            Outcome::Fail,
            Some("503: status 503 from the server"),
        ),
        (
            "read",
            "500",
            Value::Null,
            Outcome::Fail,
            Some("500: status 500 from the server"),
        ),
        (
            "read",
            "504",
            Value::Null,
            Outcome::Fail,
            Some("504: status 504 from the server"),
        ),
        (
            "write",
            "409",
            json!(1),
            Outcome::Fail,
            Some("409: status 409 from the server"),
        ),
        (
            "write",
            "503",
            json!(1),
            Outcome::Fail,
            Some("503: status 503 from the server"),
        ),
        (
            "write",
            "422",
            json!(1),
            Outcome::Fail,
            Some("422: status 422 from the server"),
        ),
        (
            "write",
            "500",
            json!(1),
            Outcome::Info,
            Some("500: status 500 from the server"),
        ),
        (
            "write",
            "504",
            json!(1),
            Outcome::Info,
            Some("504: status 504 from the server"),
        ),
        (
            "write",
            "418",
            json!(1),
            Outcome::Info,
            Some("418: status 418 from the server"),
        ),
        (
            "cas",
            "409",
            json!([1, 2]),
            Outcome::Fail,
            Some("409: status 409 from the server"),
        ),
        (
            "cas",
            "201",
            json!([1, 2]),
            Outcome::Info,
            Some("201: {\"data\":{\"value\":{\"served\":201}}}"),
        ),
        (
            "cas",
            "502",
            json!([1, 2]),
            Outcome::Info,
            Some("502: status 502 from the server"),
        ),
    ];
    for (f, key, value, outcome, error) in table {
        let done = run(&mut c, f, key, value.clone()).await;
        assert_eq!(done.outcome, outcome, "{f} {key}: {done:?}");
        assert_eq!(done.error.as_deref(), error, "{f} {key}");
        let want_value = if f == "read" { Value::Null } else { value };
        assert_eq!(done.value, want_value, "{f} {key}");
    }
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_info_for_writes_fail_for_reads() {
    let server = serve(None).await;
    let mut c = client(&server, &[]);
    for (f, value, outcome) in [
        ("write", json!(1), Outcome::Info),
        ("cas", json!([1, 2]), Outcome::Info),
        ("read", Value::Null, Outcome::Fail),
    ] {
        let start = Instant::now();
        let done = run(&mut c, f, "hang", value).await;
        let took = start.elapsed();
        assert_eq!(done.outcome, outcome, "{f}: {done:?}");
        assert_eq!(
            done.error.as_deref(),
            Some("no answer within 500 ms"),
            "{f}"
        );
        assert!(
            took >= Duration::from_millis(500),
            "{f} waited the timeout: {took:?}"
        );
        assert!(
            took < Duration::from_secs(5),
            "{f} ended soon after the timeout: {took:?}"
        );
    }
}

#[tokio::test]
async fn a_connection_closed_after_sending_is_info_for_writes_fail_for_reads() {
    let server = serve(None).await;
    let mut c = client(&server, &[]);
    let write = run(&mut c, "write", "drop", json!(1)).await;
    assert_eq!(write.outcome, Outcome::Info, "{write:?}");
    let cas = run(&mut c, "cas", "drop", json!([1, 2])).await;
    assert_eq!(cas.outcome, Outcome::Info, "{cas:?}");
    let read = run(&mut c, "read", "drop", Value::Null).await;
    assert_eq!(read.outcome, Outcome::Fail, "{read:?}");
    assert!(
        !read.error.unwrap_or_default().starts_with("not sent"),
        "it was sent"
    );
}

#[tokio::test]
async fn connect_refused_is_fail_for_every_op() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let factory = HttpFactory::new(spec(), &[]).expect("factory");
    let mut c = factory
        .open(&node("n9", &format!("127.0.0.1:{port}")))
        .expect("open");
    for (f, value) in [
        ("write", json!(1)),
        ("cas", json!([1, 2])),
        ("read", Value::Null),
    ] {
        let start = Instant::now();
        let done = run(&mut c, f, "200", value.clone()).await;
        assert_eq!(done.outcome, Outcome::Fail, "{f}: {done:?}");
        let error = done.error.unwrap_or_default();
        assert!(error.starts_with("not sent: "), "{f}: {error}");
        assert_eq!(done.value, value);
        assert_eq!(done.node.as_deref(), Some("n9"));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test]
async fn redirects_are_followed_bounded_and_name_the_answering_node() {
    let second = serve(None).await;
    let first = serve(Some(second.addr.clone())).await;
    let nodes = [node("n1", &first.addr), node("n2", &second.addr)];
    let mut c = client(&first, &nodes);

    let hop = run(&mut c, "write", "hop", json!(1)).await;
    assert_eq!(
        (hop.outcome, hop.node.as_deref()),
        (Outcome::Ok, Some("n1"))
    );

    let away = run(&mut c, "write", "away", json!(2)).await;
    assert_eq!(
        (away.outcome, away.node.as_deref()),
        (Outcome::Ok, Some("n2")),
        "{away:?}"
    );
    let on_second = second.seen.lock().expect("lock").clone();
    assert_eq!(on_second.len(), 1);
    assert_eq!(
        (on_second[0].method.as_str(), &on_second[0].body),
        ("PUT", &json!({"value": 2, "note": "key=away"})),
        "method and body survive a 307"
    );

    let before = first.seen.lock().expect("lock").len();
    let looped = run(&mut c, "write", "loop", json!(3)).await;
    assert_eq!(
        looped.outcome,
        Outcome::Fail,
        "a 307 left after the last hop did nothing: {looped:?}"
    );
    assert_eq!(looped.error.as_deref(), Some("307: again"));
    let sent = first.seen.lock().expect("lock").len() - before;
    assert_eq!(sent, 3, "the first try plus two hops");
}

#[tokio::test]
async fn ops_the_spec_cannot_send_fail_without_touching_the_wire() {
    let server = serve(None).await;
    let only_read = "[read]\nmethod = \"GET\"\npath = \"/s/{key}\"\n";
    let factory = HttpFactory::new(
        HttpSpec::from_toml(only_read, "r.toml").expect("valid"),
        &[],
    )
    .expect("factory");
    let mut c = factory.open(&node("n1", &server.addr)).expect("open");
    let write = run(&mut c, "write", "200", json!(1)).await;
    assert_eq!(write.outcome, Outcome::Fail);
    assert_eq!(
        write.error.as_deref(),
        Some("not sent: the client spec has no [write] section")
    );
    let txn = run(&mut c, "txn", "200", json!([])).await;
    assert_eq!(txn.outcome, Outcome::Fail);
    assert!(txn
        .error
        .unwrap_or_default()
        .contains("unsupported op \"txn\""));
    let mut full = client(&server, &[]);
    let bad_cas = run(&mut full, "cas", "200", json!(5)).await;
    assert_eq!(bad_cas.outcome, Outcome::Fail);
    assert_eq!(
        bad_cas.error.as_deref(),
        Some("not sent: a cas value must be [from, to], got 5")
    );
    assert!(
        server.seen.lock().expect("lock").is_empty(),
        "nothing was sent"
    );
}

#[test]
fn bad_node_addresses_are_refused_at_open() {
    let factory = HttpFactory::new(spec(), &[]).expect("factory");
    let err = factory
        .open(&node("n1", "ftp://x"))
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("node n1: bad address \"ftp://x\": the scheme must be http or https")
    );
}

#[tokio::test]
async fn a_connect_that_never_completes_is_fail_not_info() {
    // A listener whose accept queue is full drops new SYNs, so a connect hangs: the client's
    // connect timeout (half the request timeout) gives up on a request certainly never sent.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let addr = socket.local_addr().expect("local addr");
    let _listener = socket.listen(1).expect("listen");
    let mut held = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => held.push(stream),
            _ => break,
        }
    }
    assert!(held.len() < 16, "the accept queue never filled");
    let factory = HttpFactory::new(spec(), &[]).expect("factory");
    let mut c = factory.open(&node("n1", &addr.to_string())).expect("open");
    let start = Instant::now();
    let done = run(&mut c, "write", "200", json!(1)).await;
    assert_eq!(done.outcome, Outcome::Fail, "{done:?}");
    assert!(
        done.error
            .as_deref()
            .unwrap_or("")
            .starts_with("not sent: "),
        "{done:?}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "within the connect timeout: {:?}",
        start.elapsed()
    );
}
