//! The raftkv client and the templated client driven by `examples/http/raftkv.toml`, against
//! a real single-node raftkv: reads of unwritten keys, writes, cas success and conflict, the
//! single register, awkward keys, and connect refused once the node is killed.
//!
//! The raftkv binary belongs to another workspace package, so `env!("CARGO_BIN_EXE_raftkv")` is
//! not available here; it is found next to this test binary (`target/<profile>/raftkv`). CI
//! builds the whole workspace first; by hand, run `cargo build -p raftkv` (same profile).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faultline::client::{
    Client, ClientFactory, Completion, HttpFactory, HttpSpec, Invocation, NodeInfo, Profile,
    RaftkvFactory, RaftkvOptions,
};
use faultline::history::Outcome;
use serde_json::{json, Value};

mod common;

/// The raftkv binary built in the same profile as this test.
fn raftkv_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let name = format!("raftkv{}", std::env::consts::EXE_SUFFIX);
    let found = exe
        .ancestors()
        .skip(1)
        .take(3)
        .map(|dir| dir.join(&name))
        .find(|candidate| candidate.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "the raftkv binary was not found next to {} (looked in its parent directories); \
             build the whole workspace first: `cargo build --workspace` (same profile as the tests)",
            exe.display()
        )
    })
}

fn free_port() -> u16 {
    common::free_ports(1)[0]
}

/// One member of a raftkv cluster: id, client address, peer address.
#[derive(Debug, Clone)]
struct Member {
    id: u64,
    http: String,
    peer: String,
}

impl Member {
    fn fresh() -> Member {
        Member::new(1)
    }

    fn new(id: u64) -> Member {
        Member {
            id,
            http: format!("127.0.0.1:{}", free_port()),
            peer: format!("127.0.0.1:{}", free_port()),
        }
    }
}

/// Whether nodes learn each other's client addresses (then followers answer 307, else 421).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerHttp {
    Tell,
    Withhold,
}

/// A running raftkv node, killed when dropped.
struct Node {
    child: Option<Child>,
    id: u64,
    http: String,
    _data: tempfile::TempDir,
}

impl Node {
    /// A single-node cluster, waited on until it leads.
    fn start() -> Node {
        let node = Node::spawn(1, &[], PeerHttp::Tell);
        node.wait_for(Duration::from_secs(30), "leads", |s| {
            s.get("role") == Some(&json!("leader"))
        });
        node
    }

    /// Starts node `id` of a cluster whose members are `me` and `peers`.
    fn spawn(id: u64, members: &[Member], peer_http: PeerHttp) -> Node {
        let data = tempfile::tempdir().expect("temp dir");
        let me = members
            .iter()
            .find(|m| m.id == id)
            .cloned()
            .unwrap_or_else(Member::fresh);
        let log = std::fs::File::create(data.path().join("raftkv.log")).expect("log file");
        let mut command = Command::new(raftkv_binary());
        command
            .args(["--id", &id.to_string(), "--listen", &me.http])
            .args(["--peer-listen", &me.peer, "--data-dir"])
            .arg(data.path().join("data"));
        if members.len() > 1 {
            // Slower elections (1-2 s) so a busy machine does not depose the leader mid-test.
            command.args(["--election-ticks", "50"]);
        }
        for m in members.iter().filter(|m| m.id != id) {
            command.args(["--peer", &format!("{}={}", m.id, m.peer)]);
            if peer_http == PeerHttp::Tell {
                command.args(["--peer-http", &format!("{}={}", m.id, m.http)]);
            }
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start raftkv");
        Node {
            child: Some(child),
            id,
            http: me.http,
            _data: data,
        }
    }

    /// This node's `/status`, if it answers.
    fn status(&self) -> Result<Value, String> {
        http_get::json(&format!("http://{}/status", self.http))
    }

    /// Polls `/status` until `done` holds (bounded).
    fn wait_for(&self, limit: Duration, what: &str, done: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + limit;
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.status() {
                Ok(status) if done(&status) => return,
                Ok(status) => last = status.to_string(),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "raftkv {} at {}: not \"{what}\" within {limit:?}; last status: {last}\nlog:\n{}",
            self.id,
            self.http,
            self.log()
        );
    }

    fn info(&self) -> NodeInfo {
        NodeInfo {
            name: format!("n{}", self.id),
            http: self.http.clone(),
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._data.path().join("raftkv.log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A blocking GET of a JSON document over a plain TCP socket (no runtime needed).
mod http_get {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    pub fn json(url: &str) -> Result<serde_json::Value, String> {
        let rest = url.strip_prefix("http://").ok_or("not http")?;
        let (addr, path) = rest.split_once('/').ok_or("no path")?;
        let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| e.to_string())?;
        let request = format!("GET /{path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .map_err(|e| e.to_string())?;
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .ok_or("no body")?;
        serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))
    }
}

fn inv(f: &str, key: Option<Value>, value: Value) -> Invocation {
    Invocation {
        f: f.into(),
        key,
        value,
    }
}

async fn expect(
    c: &mut Box<dyn Client>,
    op: Invocation,
    outcome: Outcome,
    value: Value,
) -> Completion {
    let done = c.invoke(&op).await;
    assert_eq!(
        (done.outcome, &done.value),
        (outcome, &value),
        "{op:?} -> {done:?}"
    );
    assert_eq!(done.node.as_deref(), Some("n1"), "{op:?}");
    done
}

/// The register/kv behaviour every raftkv client must show on a healthy single node.
async fn exercise(c: &mut Box<dyn Client>, prefix: &str) {
    let key = |k: &str| Some(json!(format!("{prefix}{k}")));
    expect(
        c,
        inv("read", key("x"), Value::Null),
        Outcome::Ok,
        Value::Null,
    )
    .await;
    expect(c, inv("write", key("x"), json!(3)), Outcome::Ok, json!(3)).await;
    expect(c, inv("read", key("x"), Value::Null), Outcome::Ok, json!(3)).await;
    expect(
        c,
        inv("cas", key("x"), json!([3, 4])),
        Outcome::Ok,
        json!([3, 4]),
    )
    .await;
    let conflict = expect(
        c,
        inv("cas", key("x"), json!([3, 5])),
        Outcome::Fail,
        json!([3, 5]),
    )
    .await;
    assert_eq!(conflict.error.as_deref(), Some("409: precondition failed"));
    expect(c, inv("read", key("x"), Value::Null), Outcome::Ok, json!(4)).await;

    // A cas from null on a never-written key succeeds (raftkv treats it as null).
    expect(
        c,
        inv("cas", key("fresh"), json!([null, {"a": [1]}])),
        Outcome::Ok,
        json!([null, {"a": [1]}]),
    )
    .await;
    expect(
        c,
        inv("read", key("fresh"), Value::Null),
        Outcome::Ok,
        json!({"a": [1]}),
    )
    .await;

    // Awkward keys: spaces, slashes, unicode, numbers.
    let odd = Some(json!(format!("{prefix}a b/c?d#é")));
    expect(
        c,
        inv("write", odd.clone(), json!("v")),
        Outcome::Ok,
        json!("v"),
    )
    .await;
    expect(c, inv("read", odd, Value::Null), Outcome::Ok, json!("v")).await;
    let numeric = Some(json!(7));
    expect(
        c,
        inv("write", numeric.clone(), json!(prefix)),
        Outcome::Ok,
        json!(prefix),
    )
    .await;
    expect(
        c,
        inv("read", numeric, Value::Null),
        Outcome::Ok,
        json!(prefix),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raftkv_client_against_a_real_node_then_connect_refused() {
    let mut node = Node::start();
    let options = RaftkvOptions {
        timeout: Duration::from_secs(5),
        ..RaftkvOptions::default()
    };
    let factory = RaftkvFactory::new(&[node.info()], options).expect("factory");
    let mut c = factory.open(&node.info()).expect("open");
    exercise(&mut c, "rk-").await;

    // The single register (no key) uses a fixed key.
    expect(
        &mut c,
        inv("write", None, json!(11)),
        Outcome::Ok,
        json!(11),
    )
    .await;
    expect(
        &mut c,
        inv("read", None, Value::Null),
        Outcome::Ok,
        json!(11),
    )
    .await;
    let log = node.log();

    node.kill();
    // The client may hold an idle keep-alive connection to the dead node. Until its task sees
    // the close, a request sent on it fails as "connection closed before message completed",
    // which is rightly info (nothing says the server did not get it). Give the pool time to
    // drop it, so what is tested is the refused connect of a fresh connection.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (f, value) in [
        ("write", json!(1)),
        ("cas", json!([1, 2])),
        ("read", Value::Null),
    ] {
        let start = Instant::now();
        let done = c.invoke(&inv(f, Some(json!("x")), value.clone())).await;
        assert_eq!(
            done.outcome,
            Outcome::Fail,
            "{f} on a killed node: {done:?}\nraftkv log:\n{log}"
        );
        assert!(
            done.error
                .as_deref()
                .unwrap_or("")
                .starts_with("not sent: "),
            "{done:?}"
        );
        assert_eq!(done.value, value);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{f} took {:?}",
            start.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_template_drives_a_real_node() {
    let node = Node::start();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/http/raftkv.toml");
    let mut spec = HttpSpec::from_file(&path).expect("examples/http/raftkv.toml is valid");
    spec.set_timeout(Duration::from_secs(5));
    let factory = HttpFactory::new(spec, &[node.info()]).expect("factory");
    let mut c = factory.open(&node.info()).expect("open");
    exercise(&mut c, "tpl-").await;
    expect(
        &mut c,
        inv("write", None, json!("r")),
        Outcome::Ok,
        json!("r"),
    )
    .await;
    expect(
        &mut c,
        inv("read", None, Value::Null),
        Outcome::Ok,
        json!("r"),
    )
    .await;
    c.close().await;
}

/// A raftkv client for one workload profile, against `node`.
fn profile_client(node: &Node, profile: Profile) -> Box<dyn Client> {
    let options = RaftkvOptions {
        timeout: Duration::from_secs(5),
        profile: Some(profile),
        ..RaftkvOptions::default()
    };
    let factory = RaftkvFactory::new(&[node.info()], options).expect("factory");
    factory.open(&node.info()).expect("open")
}

/// Every workload profile of the built-in raftkv client, op by op, against a real node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_workload_profile_drives_a_real_node() {
    let node = Node::start();

    let mut set = profile_client(&node, Profile::Set);
    expect(
        &mut set,
        inv("read", None, Value::Null),
        Outcome::Ok,
        json!([]),
    )
    .await;
    for v in [3, 1] {
        expect(&mut set, inv("add", None, json!(v)), Outcome::Ok, json!(v)).await;
    }
    expect(
        &mut set,
        inv("read", None, Value::Null),
        Outcome::Ok,
        json!([3, 1]),
    )
    .await;

    let mut counter = profile_client(&node, Profile::Counter);
    expect(
        &mut counter,
        inv("read", None, Value::Null),
        Outcome::Ok,
        json!(0),
    )
    .await;
    for v in [2, 5] {
        expect(
            &mut counter,
            inv("add", None, json!(v)),
            Outcome::Ok,
            json!(v),
        )
        .await;
    }
    expect(
        &mut counter,
        inv("read", None, Value::Null),
        Outcome::Ok,
        json!(7),
    )
    .await;

    let mut ids = profile_client(&node, Profile::UniqueIds);
    for want in [1, 2] {
        expect(
            &mut ids,
            inv("generate", None, Value::Null),
            Outcome::Ok,
            json!(want),
        )
        .await;
    }

    let mut bank = profile_client(&node, Profile::Bank);
    // The setup's opening balances go through the top-level [write].
    for (k, v) in [("bank-0", 10), ("bank-1", 10)] {
        expect(
            &mut bank,
            inv("write", Some(json!(k)), json!(v)),
            Outcome::Ok,
            json!(v),
        )
        .await;
    }
    let t = json!({"from": 0, "to": 1, "amount": 4});
    expect(&mut bank, inv("transfer", None, t.clone()), Outcome::Ok, t).await;
    let too_much = json!({"from": 0, "to": 1, "amount": 7});
    let done = expect(
        &mut bank,
        inv("transfer", None, too_much.clone()),
        Outcome::Fail,
        too_much,
    )
    .await;
    assert!(done
        .error
        .unwrap_or_default()
        .contains("insufficient funds"));
    expect(
        &mut bank,
        inv("read", None, Value::Null),
        Outcome::Ok,
        json!({"0": 6, "1": 14}),
    )
    .await;

    let mut txn = profile_client(&node, Profile::Txn);
    let ops = json!([["append", "5", 1], ["r", "5", null], ["w", "6", 2]]);
    let done = json!([["append", "5", 1], ["r", "5", [1]], ["w", "6", 2]]);
    expect(&mut txn, inv("txn", None, ops), Outcome::Ok, done).await;
    let reads = json!([["r", "5", null], ["r", "6", null], ["r", "7", null]]);
    let done = json!([["r", "5", [1]], ["r", "6", 2], ["r", "7", null]]);
    expect(&mut txn, inv("txn", None, reads), Outcome::Ok, done).await;
    // An op the profile does not define is not sent.
    let done = expect(
        &mut txn,
        inv("add", None, json!(1)),
        Outcome::Fail,
        json!(1),
    )
    .await;
    assert!(done
        .error
        .unwrap_or_default()
        .contains("profile \"txn\" does not define it"));
}

/// Starts a 3-node cluster and waits until every node knows the same leader; returns the
/// nodes and the leader's id.
fn three_nodes(peer_http: PeerHttp) -> (Vec<Node>, u64) {
    let members: Vec<Member> = (1..=3).map(Member::new).collect();
    let nodes: Vec<Node> = (1..=3)
        .map(|id| Node::spawn(id, &members, peer_http))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let leaders: Vec<Option<u64>> = nodes
            .iter()
            .map(|n| n.status().ok().and_then(|s| s.get("leader")?.as_u64()))
            .collect();
        if let Some(Some(leader)) = leaders.first() {
            if leaders.iter().all(|l| *l == Some(*leader)) {
                return (nodes, *leader);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs: Vec<String> = nodes.iter().map(Node::log).collect();
    panic!(
        "no agreed leader within 30 s; logs:\n{}",
        logs.join("\n---\n")
    );
}

/// Writes through a follower and checks the leader served it, with the raftkv client.
async fn through_a_follower(peer_http: PeerHttp) {
    let (nodes, leader) = three_nodes(peer_http);
    let infos: Vec<NodeInfo> = nodes.iter().map(Node::info).collect();
    let follower = nodes.iter().find(|n| n.id != leader).expect("a follower");
    let options = RaftkvOptions {
        timeout: Duration::from_secs(5),
        ..RaftkvOptions::default()
    };
    let factory = RaftkvFactory::new(&infos, options).expect("factory");
    let mut c = factory.open(&follower.info()).expect("open");
    for (f, value, want) in [
        ("write", json!(5), json!(5)),
        ("cas", json!([5, 6]), json!([5, 6])),
        ("read", Value::Null, json!(6)),
    ] {
        let done = c.invoke(&inv(f, Some(json!("y")), value)).await;
        assert_eq!(
            (done.outcome, &done.value),
            (Outcome::Ok, &want),
            "{f}: {done:?}"
        );
        // The leader served it: the one found at start, or (on a machine so slow that an
        // election happened meanwhile) the one the follower names now.
        let now = follower
            .status()
            .ok()
            .and_then(|s| s.get("leader")?.as_u64());
        let leaders = [Some(format!("n{leader}")), now.map(|l| format!("n{l}"))];
        assert!(
            leaders.contains(&done.node),
            "{f} served by {:?}, leaders {leaders:?}",
            done.node
        );
        assert_ne!(
            done.node,
            Some(format!("n{}", follower.id)),
            "{f} left the follower"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followers_307_is_followed_to_the_leader_with_method_and_body() {
    through_a_follower(PeerHttp::Tell).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followers_421_is_followed_to_the_leader_named_by_id() {
    through_a_follower(PeerHttp::Withhold).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redirects_a_follower_answer_is_a_definite_fail() {
    let (nodes, leader) = three_nodes(PeerHttp::Tell);
    let infos: Vec<NodeInfo> = nodes.iter().map(Node::info).collect();
    let follower = nodes.iter().find(|n| n.id != leader).expect("a follower");
    let options = RaftkvOptions {
        timeout: Duration::from_secs(5),
        max_redirects: 0,
        ..RaftkvOptions::default()
    };
    let factory = RaftkvFactory::new(&infos, options).expect("factory");
    let mut c = factory.open(&follower.info()).expect("open");
    let done = c.invoke(&inv("write", Some(json!("z")), json!(1))).await;
    assert_eq!(done.outcome, Outcome::Fail, "{done:?}");
    assert_eq!(done.error.as_deref(), Some("307: not leader"));
    assert_eq!(done.node, Some(format!("n{}", follower.id)));
}

/// Sends `signal` to the node's process.
fn signal(node: &Node, signal: nix::sys::signal::Signal) {
    let child = node.child.as_ref().expect("the node runs");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
    nix::sys::signal::kill(pid, signal).expect("signal raftkv");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_times_out_info_for_writes_fail_for_reads() {
    use nix::sys::signal::Signal;
    let node = Node::start();
    let options = RaftkvOptions {
        timeout: Duration::from_millis(800),
        ..RaftkvOptions::default()
    };
    let factory = RaftkvFactory::new(&[node.info()], options).expect("factory");
    let mut c = factory.open(&node.info()).expect("open");
    expect(
        &mut c,
        inv("write", Some(json!("p")), json!(1)),
        Outcome::Ok,
        json!(1),
    )
    .await;

    signal(&node, Signal::SIGSTOP);
    // The Drop guard's SIGKILL also ends a stopped process, so no resume is needed on panic.
    for (f, value, outcome) in [
        ("write", json!(2), Outcome::Info),
        ("cas", json!([1, 3]), Outcome::Info),
        ("read", Value::Null, Outcome::Fail),
    ] {
        let start = Instant::now();
        let done = c.invoke(&inv(f, Some(json!("p")), value)).await;
        let took = start.elapsed();
        assert_eq!(done.outcome, outcome, "{f} on a paused node: {done:?}");
        assert_eq!(
            done.error.as_deref(),
            Some("no answer within 800 ms"),
            "{f}"
        );
        assert!(took >= Duration::from_millis(800), "{f} waited: {took:?}");
        assert!(
            took < Duration::from_secs(5),
            "{f} ended with its timeout: {took:?}"
        );
    }
    signal(&node, Signal::SIGCONT);

    // Once resumed, the node answers again; the write and cas may or may not have applied
    // (that is what info means), so the value read is one of the possible ones.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = c.invoke(&inv("read", Some(json!("p")), Value::Null)).await;
        if done.outcome == Outcome::Ok {
            assert!(
                [json!(1), json!(2), json!(3)].contains(&done.value),
                "{done:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no answer after resume: {done:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
