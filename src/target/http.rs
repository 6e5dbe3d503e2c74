//! `--target http`: the user's own HTTP service, described by a client spec
//! (`--client SPEC.toml`, see [`crate::client::http`]) and run by the user
//! (`--cluster external --node [NAME=]URL ...`).
//!
//! This module holds what the target needs beyond the other targets: its settings, the
//! spec's fit with the workload and the nemesis (pure, before anything starts), the
//! reachability probe (the spec's `health` path, else a TCP connect), the client factory and
//! the copy of the spec kept in the run directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::{external_infos, external_nemesis, leader_fault, Nodes, StartContext, Started};
use crate::client::http::selftest::{self, Family};
use crate::client::mapping::OpKind;
use crate::client::{HttpFactory, HttpSpec, NodeInfo, Profile};
use crate::nemesis::NemesisSpec;
use crate::node_addr::ExternalNode;
use crate::node_control::{LeaderProbe, NoLeader};
use crate::workload::{WorkloadKind, WorkloadSpec};

/// The name of the spec's copy in a run directory.
pub const SPEC_COPY: &str = crate::rundir::CLIENT_SPEC_FILE;

/// How long one reachability probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Probes per node before it is declared unreachable.
const PROBES: u32 = 3;
/// The pause between two probes of one node.
const PROBE_PAUSE: Duration = Duration::from_millis(500);

/// Why `--target http` cannot run on a local cluster without a db spec.
pub const NEEDS_EXTERNAL: &str = "--target http on a local cluster needs --db DB.toml (how to run one node of your service; see docs/db-spec.md), or use --cluster external and at least one --node [NAME=]URL to test nodes you run yourself";

/// The http target's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpTarget {
    /// `--client SPEC.toml`: the file that describes the service's HTTP API.
    pub client: PathBuf,
    /// `--db DB.toml`: how to run one node, for a local cluster faultline starts
    /// (see [`crate::cluster::db_spec`]); `None` for external nodes.
    pub db: Option<PathBuf>,
}

impl HttpTarget {
    /// Needs external nodes; reads the spec and checks it serves the workload and that the
    /// schedule asks nothing it cannot do. Returns the validated spec.
    pub fn validate(
        &self,
        nodes: &Nodes,
        workload: &WorkloadSpec,
        nemesis: &mut NemesisSpec,
    ) -> Result<HttpSpec> {
        self.validate_db(nodes, nemesis)?;
        load_spec(&self.client, workload, nemesis)
    }

    /// The flags that reproduce these settings.
    pub fn flags(&self) -> Vec<String> {
        let mut flags = vec!["--client".into(), self.client.display().to_string()];
        if let Some(db) = &self.db {
            flags.extend(["--db".into(), db.display().to_string()]);
        }
        flags
    }

    /// Keeps a copy of the spec in the run, checks every node is reachable, and builds the
    /// clients and the nemesis (`[commands]`; "the leader" from the spec's `[leader]`).
    pub async fn start_external(
        &self,
        nodes: &[ExternalNode],
        spec: &HttpSpec,
        ctx: &StartContext<'_>,
    ) -> Result<Started> {
        let copy = store_spec(&self.client, ctx.dir)?;
        (ctx.log)(&format!(
            "client spec {} kept as {}",
            self.client.display(),
            copy.display()
        ));
        check_reachable(nodes, spec).await?;
        let infos = external_infos(nodes);
        check_spec_fits(spec, &infos, ctx).await?;
        let nemesis = external_nemesis(nodes, leader_probe(spec, &infos)?, ctx)?;
        let client = factory(spec, &infos, ctx.workload.client_profile(), &ctx.run_id)?;
        Ok(Started {
            factory: Box::new(client),
            nodes: infos,
            nemesis,
            cluster: None,
            running: None,
        })
    }
}

/// Logs the run's key prefix and runs the spec self-test against `nodes` (logged in the run
/// log): the step every `--target http` run takes once its nodes answer, external or local.
/// An error is the fix to make, and ends the run before any op.
pub async fn check_spec_fits(
    spec: &HttpSpec,
    nodes: &[NodeInfo],
    ctx: &StartContext<'_>,
) -> Result<()> {
    let prefix = spec.prefix_for(&ctx.run_id);
    (ctx.log)(&format!(
        "run id {}: keys sent with prefix {prefix:?} ({{run}} = {:?})",
        ctx.run_id, ctx.run_id
    ));
    let log = Arc::clone(&ctx.log);
    self_test_logged(spec, nodes, ctx.workload, &ctx.run_id, ctx.seed, &*log).await
}

/// Reads and validates the spec, and checks it serves `workload` and that `nemesis` asks
/// nothing of it the http target cannot do. Every error names the file and what is missing.
pub fn load_spec(path: &Path, workload: &WorkloadSpec, nemesis: &NemesisSpec) -> Result<HttpSpec> {
    let spec = HttpSpec::from_file(path).with_context(|| format!("--client {}", path.display()))?;
    let file = path.display();
    if let Some(missing) = missing_ops(&spec, workload) {
        bail!(
            "--client {file}: workload {} needs {missing}, which the spec does not define",
            workload.name
        );
    }
    if let Some(fault) = leader_fault(nemesis).filter(|_| spec.leader.is_none()) {
        bail!(
            "--nemesis {}: {fault} targets the leader, but --client {file} cannot tell which node leads: add a [leader] section to it (see docs/http-target.md), or use target \"one\", \"minority\", \"majority\" or \"all\" (or partition mode \"one\", \"halves\")",
            nemesis.source
        );
    }
    Ok(spec)
}

/// What `workload` needs that `spec` lacks, as the TOML section to add (pure): a profile
/// workload needs its `[profiles.NAME]`, the bank also `[write]` (for the opening balances);
/// a register workload needs `[read]`, `[write]`, `[cas]` for the ops its mix draws (and
/// `[read]` for its final reads).
pub fn missing_ops(spec: &HttpSpec, workload: &WorkloadSpec) -> Option<String> {
    if let Some(profile) = workload.client_profile() {
        if !spec.has_profile(profile) {
            let has = spec.profile_names();
            let has = if has.is_empty() {
                "none".to_owned()
            } else {
                has.join(", ")
            };
            return Some(format!(
                "profile \"{profile}\" ([profiles.{profile}.OP] sections; the spec's profiles: {has})"
            ));
        }
        if matches!(workload.kind, WorkloadKind::Bank(_)) && spec.op(OpKind::Write).is_none() {
            return Some("[write] (the bank's opening balances are written through it)".into());
        }
        return None;
    }
    let mix = &workload.mix;
    let needed = [
        (OpKind::Read, mix.read > 0.0 || workload.final_reads),
        (OpKind::Write, mix.write > 0.0),
        (OpKind::Cas, mix.cas > 0.0),
    ];
    needed
        .iter()
        .find(|(kind, used)| *used && spec.op(*kind).is_none())
        .map(|(kind, _)| format!("[{}]", kind.as_str()))
}

/// Copies the spec into the run directory as [`SPEC_COPY`], so the run keeps the exact API
/// description it was tested with.
pub fn store_spec(path: &Path, dir: &Path) -> Result<PathBuf> {
    let copy = dir.join(SPEC_COPY);
    std::fs::copy(path, &copy)
        .with_context(|| format!("copying {} to {}", path.display(), copy.display()))?;
    Ok(copy)
}

/// Clients of run `run` for `nodes` following `spec`, through `profile` when the workload
/// has one. Every key they send carries the run's prefix ([`HttpSpec::prefix_for`]).
pub fn factory(
    spec: &HttpSpec,
    nodes: &[NodeInfo],
    profile: Option<Profile>,
    run: &str,
) -> Result<HttpFactory> {
    let factory = HttpFactory::new(spec.clone(), nodes)
        .context("setting up the http client")?
        .with_run(run);
    match profile {
        Some(p) => factory
            .with_profile(p)
            .context("setting up the http client"),
        None => Ok(factory),
    }
}

/// The self-test's checks for `workload` (pure): its profile, or its register ops.
pub fn self_test_family(workload: &WorkloadSpec) -> Family {
    match &workload.kind {
        WorkloadKind::Register => Family::Register {
            cas: workload.mix.cas > 0.0,
            read: workload.mix.read > 0.0 || workload.final_reads,
        },
        WorkloadKind::Set(_) => Family::Set,
        WorkloadKind::Counter(_) => Family::Counter,
        WorkloadKind::Bank(_) => Family::Bank,
        WorkloadKind::UniqueIds => Family::UniqueIds,
        WorkloadKind::ListAppend(_) => Family::ListAppend,
        WorkloadKind::RwRegister(_) => Family::RwRegister,
        // Refused before any self-test (`Target::validate`: kafka is Maelstrom's only).
        WorkloadKind::Kafka => Family::UniqueIds,
    }
}

/// The scratch run the self-test of run `run` writes under: its own key prefix, so the run
/// never reads what the self-test wrote.
pub fn self_test_run(run: &str) -> String {
    format!("probe-{run}")
}

/// The spec self-test before a run: through `spec`, on scratch keys of a probe-only run
/// prefix, the ops `workload` uses are sent to the first of `nodes` and what comes back is
/// compared exactly with what was written ([`crate::client::http::selftest`]). An error
/// names the op, what came back, what was expected and the spec field to set; the caller
/// exits 3 before the run starts. `run` is the run's id.
pub async fn self_test(
    spec: &HttpSpec,
    nodes: &[NodeInfo],
    workload: &WorkloadSpec,
    run: &str,
) -> Result<()> {
    self_test_logged(spec, nodes, workload, run, rand::random(), &|_| {}).await
}

/// [`self_test`] with its fresh values drawn from `seed` and each request and answer given
/// to `log`.
pub async fn self_test_logged(
    spec: &HttpSpec,
    nodes: &[NodeInfo],
    workload: &WorkloadSpec,
    run: &str,
    seed: u64,
    log: &(dyn Fn(&str) + Send + Sync),
) -> Result<()> {
    let Some(node) = nodes.first() else {
        bail!("the client spec self-test needs a node");
    };
    let family = self_test_family(workload);
    let outcome = selftest::run(spec, node, family, &self_test_run(run), seed).await;
    let (result, lines) = match outcome {
        Ok(lines) => (Ok(()), lines),
        Err((e, lines)) => (Err(e), lines),
    };
    for line in &lines {
        log(line);
    }
    match result {
        Ok(()) => {
            log(&format!(
                "client spec self-test passed on {} for workload {}",
                node.name, workload.name
            ));
            Ok(())
        }
        Err(e) => bail!(
            "the client spec does not fit the service (self-test on node {}, workload {}): {e}",
            node.name,
            workload.name
        ),
    }
}

/// Checks every node is there before the run: `GET health` answers 2xx when the spec has a
/// `health` path, else a TCP connect to the node's host and port succeeds. A few tries per
/// node; the error names the first node that never passed and the last reason.
pub async fn check_reachable(nodes: &[ExternalNode], spec: &HttpSpec) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .no_proxy()
        .build()
        .context("building the probe's HTTP client")?;
    for node in nodes {
        let what = match &spec.health {
            Some(path) => format!("GET {}{path}", node.url),
            None => format!("a TCP connect to {}", authority(&node.url)),
        };
        let mut last = String::new();
        let mut passed = false;
        for attempt in 0..PROBES {
            let probe = match &spec.health {
                Some(path) => probe_health(&http, &format!("{}{path}", node.url)).await,
                None => probe_tcp(&node.url).await,
            };
            match probe {
                Ok(()) => {
                    passed = true;
                    break;
                }
                Err(reason) => last = reason,
            }
            if attempt + 1 < PROBES {
                tokio::time::sleep(PROBE_PAUSE).await;
            }
        }
        if !passed {
            bail!(
                "external node {} at {} is unreachable ({PROBES} tries of {what}): {last}",
                node.name,
                node.url
            );
        }
    }
    Ok(())
}

async fn probe_health(http: &reqwest::Client, url: &str) -> Result<(), String> {
    let answer = http
        .get(url)
        .send()
        .await
        .map_err(crate::net::cause::http)?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("it answered {status}"))
    }
}

async fn probe_tcp(url: &str) -> Result<(), String> {
    let addr = authority(url);
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no connection within {PROBE_TIMEOUT:?}")),
    }
}

/// `host:port` of a node URL (the scheme's default port when none is given). Pure.
fn authority(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            // An IPv6 host comes bracketed, as a socket address wants it.
            let host = u.host_str().unwrap_or_default();
            let port = u.port_or_known_default().unwrap_or(80);
            format!("{host}:{port}")
        }
        Err(_) => url.to_owned(),
    }
}

/// "Who leads" for the nemesis: the spec's `[leader]` probe over `nodes`, else
/// [`NoLeader`] (leader faults are then refused before the run, see [`load_spec`]).
pub fn leader_probe(spec: &HttpSpec, nodes: &[NodeInfo]) -> Result<Arc<dyn LeaderProbe>> {
    Ok(match &spec.leader {
        Some(leader) => Arc::new(crate::client::http::HttpLeader::new(
            leader.clone(),
            nodes.to_vec(),
            spec.headers.clone(),
        )?),
        None => Arc::new(NoLeader),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> HttpSpec {
        HttpSpec::from_toml(text, "s.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    fn workload(name: &str) -> WorkloadSpec {
        WorkloadSpec::load(name).unwrap_or_else(|e| panic!("{e}"))
    }

    const READ_WRITE: &str = "[read]\nmethod=\"GET\"\npath=\"/{key}\"\nvalue=\"\"\n\
                              [write]\nmethod=\"PUT\"\npath=\"/{key}\"\nbody=\"{value}\"\n";

    #[test]
    fn register_workloads_need_the_ops_their_mix_draws() {
        let rw = spec(READ_WRITE);
        assert_eq!(missing_ops(&rw, &workload("register")), None);
        assert_eq!(
            missing_ops(&rw, &workload("cas-register")).as_deref(),
            Some("[cas]")
        );
        let full = crate::client::raftkv::spec().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(missing_ops(&full, &workload("cas-register")), None);
    }

    #[test]
    fn profile_workloads_need_their_profile() {
        let rw = spec(READ_WRITE);
        let mut ids = workload("cas-register");
        ids.kind = WorkloadKind::UniqueIds;
        let missing = missing_ops(&rw, &ids).unwrap_or_default();
        assert!(
            missing.starts_with("profile \"unique-ids\"") && missing.ends_with("profiles: none)"),
            "{missing}"
        );
        let full = crate::client::raftkv::spec().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(missing_ops(&full, &ids), None);
    }

    #[test]
    fn leader_faults_are_found() {
        let load = |name: &str| NemesisSpec::load(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            leader_fault(&load("partition-leader")),
            Some("partition mode \"leader\"")
        );
        assert_eq!(leader_fault(&load("partition-one")), None);
        assert_eq!(leader_fault(&load("none")), None);
    }

    #[test]
    fn the_http_target_needs_external_nodes() {
        let t = HttpTarget {
            client: "s.toml".into(),
            db: None,
        };
        let e = t
            .validate(
                &Nodes::Local { count: 3 },
                &workload("cas-register"),
                &mut NemesisSpec::load("none").unwrap_or_else(|e| panic!("{e}")),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs --db DB.toml"), "{e}");
        assert_eq!(t.flags(), ["--client", "s.toml"]);
    }

    #[test]
    fn authorities_take_default_ports() {
        assert_eq!(authority("http://127.0.0.1:7001"), "127.0.0.1:7001");
        assert_eq!(authority("http://db1"), "db1:80");
        assert_eq!(authority("https://db1"), "db1:443");
        assert_eq!(authority("http://[::1]:8"), "[::1]:8");
    }
}
