//! Who leads among Maelstrom nodes, for `partition-leader` and kills or pauses aimed at the
//! leader. Maelstrom's protocol has no such question, so faultline has two ways
//! (`--leader-probe`):
//!
//! - `traffic` (the default; sends nothing): the leader is the node that heard from the most
//!   other nodes among the last [`TRAFFIC_WINDOW`] messages delivered between nodes. A leader
//!   that replicates hears every follower's acknowledgement, and one that followers forward
//!   to hears every follower's request, while a follower hears from the leader alone; when
//!   no single node stands out (gossip, no traffic yet) there is no leader.
//! - `message`: faultline (as `c0`, like `init`) sends every running node
//!   `{"type": "faultline_leader"}` and waits [`PROBE_TIMEOUT`] for
//!   `{"type": "faultline_leader_ok", "leader": "n1"}` (or `null`: no leader known). The node
//!   named by the most answers leads. When no node answers the probe (error 10, no answer)
//!   the traffic decides, and the nemesis op's `leader_by` says so.
//!
//! Either way a leader fault without a leader fails with the reason as its error, recorded
//! in the history: never a silent no-op. The counting is pure ([`infer_from_traffic`],
//! [`tally`]); [`MaelstromLeader`] asks the nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Map, Value};

use super::network::Network;
use super::nodes::StdioNodes;
use crate::node_control::{FoundLeader, LeaderProbe};

/// How many of the latest node-to-node deliveries the traffic inference looks at.
pub const TRAFFIC_WINDOW: usize = 200;

/// The probe message's type (`message` mode); the answer's is this with `_ok`.
pub const PROBE_TYPE: &str = "faultline_leader";

/// How long the `message` probe waits for the nodes' answers.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// `--leader-probe`: how faultline finds the leader of Maelstrom nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProbeMode {
    /// Inferred from the messages between nodes; nothing is sent.
    #[default]
    Traffic,
    /// Asked with a `faultline_leader` message, the traffic as fallback.
    Message,
}

impl ProbeMode {
    /// The flag's spelling.
    pub fn name(self) -> &'static str {
        match self {
            ProbeMode::Traffic => "traffic",
            ProbeMode::Message => "message",
        }
    }
}

/// The leader the deliveries `links` (`(src, dest)`, between nodes) point at, and how; or
/// why none stands out.
pub fn infer_from_traffic<'a>(
    links: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<FoundLeader, String> {
    let mut heard: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut total = 0;
    for (src, dest) in links {
        total += 1;
        heard.entry(dest).or_default().insert(src);
    }
    if total == 0 {
        return Err("no messages between nodes yet to infer a leader from".into());
    }
    let most = heard.values().map(BTreeSet::len).max().unwrap_or(0);
    let top: Vec<&str> = heard
        .iter()
        .filter(|(_, from)| from.len() == most)
        .map(|(n, _)| *n)
        .collect();
    let second = heard
        .values()
        .map(BTreeSet::len)
        .filter(|&l| l < most)
        .max()
        .unwrap_or(0);
    match top.as_slice() {
        [one] => Ok(FoundLeader {
            node: (*one).to_owned(),
            how: Some(format!(
                "inferred from traffic: among the last {total} messages between nodes, {one} heard from {most} nodes, every other node from at most {second}"
            )),
        }),
        many => Err(format!(
            "no single leader in the traffic: among the last {total} messages between nodes, {} each heard from {most} nodes",
            many.join(", ")
        )),
    }
}

/// What the nodes' answers to the `message` probe say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tally {
    /// The node named by the most answers (ties: the first name), and how many named it.
    Leader(FoundLeader),
    /// Some nodes answered the probe, none named a leader.
    NoneNamed(String),
    /// No node answered the probe (each one's error or silence, in words): it is not
    /// supported, the traffic decides.
    Unsupported(String),
}

/// Counts the answers (`None`: no answer within the timeout) to the probe, one per node.
pub fn tally(answers: &[(String, Option<Map<String, Value>>)]) -> Tally {
    let ok_type = format!("{PROBE_TYPE}_ok");
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut answered = 0;
    let mut notes = Vec::new();
    for (node, answer) in answers {
        let kind = answer
            .as_ref()
            .and_then(|b| b.get("type"))
            .and_then(Value::as_str);
        match (kind, answer) {
            (Some(k), Some(body)) if k == ok_type => {
                answered += 1;
                match body.get("leader").and_then(Value::as_str) {
                    Some(l) => *votes.entry(l).or_default() += 1,
                    None => notes.push(format!("{node}: no leader")),
                }
            }
            (Some("error"), Some(body)) => notes.push(format!(
                "{node}: error {}",
                body.get("code").map(Value::to_string).unwrap_or_default()
            )),
            (_, Some(body)) => notes.push(format!("{node}: {}", Value::Object(body.clone()))),
            (_, None) => notes.push(format!("{node}: no answer")),
        }
    }
    let best = votes.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)));
    match (best, answered) {
        (Some((leader, n)), _) => Tally::Leader(FoundLeader {
            node: (*leader).to_owned(),
            how: Some(format!(
                "named by {n} of the {} nodes asked ({PROBE_TYPE})",
                answers.len()
            )),
        }),
        (None, 0) => Tally::Unsupported(notes.join(", ")),
        (None, _) => Tally::NoneNamed(format!(
            "the nodes answered {PROBE_TYPE} but none names a leader ({})",
            notes.join(", ")
        )),
    }
}

/// The leader probe of a Maelstrom cluster.
pub struct MaelstromLeader {
    mode: ProbeMode,
    nodes: StdioNodes,
    net: Network,
}

impl MaelstromLeader {
    /// A probe of `nodes` on `net` in `mode`.
    pub fn new(mode: ProbeMode, nodes: StdioNodes, net: Network) -> MaelstromLeader {
        MaelstromLeader { mode, nodes, net }
    }

    fn by_traffic(&self) -> Result<FoundLeader, String> {
        infer_from_traffic(
            self.net
                .recent_links()
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str())),
        )
    }
}

#[async_trait::async_trait]
impl LeaderProbe for MaelstromLeader {
    async fn leader(&self) -> Option<String> {
        self.find().await.ok().map(|f| f.node)
    }

    async fn find(&self) -> Result<FoundLeader, String> {
        let found = match self.mode {
            ProbeMode::Traffic => self.by_traffic(),
            ProbeMode::Message => {
                let answers = self.nodes.ask_all(PROBE_TYPE, PROBE_TIMEOUT).await;
                match tally(&answers) {
                    Tally::Leader(found) => Ok(found),
                    Tally::NoneNamed(why) => Err(why),
                    Tally::Unsupported(why) => match self.by_traffic() {
                        Ok(mut found) => {
                            found.how = Some(format!(
                                "no node answers {PROBE_TYPE} ({why}); {}",
                                found.how.unwrap_or_default()
                            ));
                            Ok(found)
                        }
                        Err(e) => Err(format!("no node answers {PROBE_TYPE} ({why}); {e}")),
                    },
                }
            }
        };
        let note = match &found {
            Ok(f) => format!(
                "leader probe: {} ({})",
                f.node,
                f.how.as_deref().unwrap_or("")
            ),
            Err(why) => format!("leader probe: no leader: {why}"),
        };
        self.net.note(&note);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Option<Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    #[test]
    fn the_node_hearing_from_the_most_others_leads() {
        // Followers forward to n0 and hear only its answers.
        let links = [
            ("n1", "n0"),
            ("n2", "n0"),
            ("n0", "n1"),
            ("n0", "n2"),
            ("n1", "n0"),
        ];
        let found = infer_from_traffic(links).expect("a leader");
        assert_eq!(found.node, "n0");
        assert!(found
            .how
            .unwrap_or_default()
            .contains("inferred from traffic"));
        // Gossip: everyone hears everyone.
        let gossip = [
            ("n0", "n1"),
            ("n1", "n2"),
            ("n2", "n0"),
            ("n1", "n0"),
            ("n0", "n2"),
            ("n2", "n1"),
        ];
        let e = infer_from_traffic(gossip).unwrap_err();
        assert!(
            e.contains("no single leader") && e.contains("n0, n1, n2"),
            "{e}"
        );
        let e = infer_from_traffic([]).unwrap_err();
        assert!(e.contains("no messages between nodes yet"), "{e}");
    }

    #[test]
    fn answers_are_counted_and_an_unsupported_probe_said() {
        let a = |n: &str, b: Option<Map<String, Value>>| (n.to_string(), b);
        let leader = tally(&[
            a(
                "n0",
                body(json!({"type": "faultline_leader_ok", "leader": "n2"})),
            ),
            a(
                "n1",
                body(json!({"type": "faultline_leader_ok", "leader": "n1"})),
            ),
            a(
                "n2",
                body(json!({"type": "faultline_leader_ok", "leader": "n2"})),
            ),
        ]);
        match leader {
            Tally::Leader(f) => {
                assert_eq!(f.node, "n2");
                assert!(f.how.unwrap_or_default().contains("named by 2 of the 3"));
            }
            other => panic!("{other:?}"),
        }
        let none = tally(&[
            a(
                "n0",
                body(json!({"type": "faultline_leader_ok", "leader": null})),
            ),
            a("n1", None),
        ]);
        assert!(
            matches!(&none, Tally::NoneNamed(w) if w.contains("n0: no leader") && w.contains("n1: no answer")),
            "{none:?}"
        );
        let unsupported = tally(&[
            a("n0", body(json!({"type": "error", "code": 10}))),
            a("n1", None),
        ]);
        assert_eq!(
            unsupported,
            Tally::Unsupported("n0: error 10, n1: no answer".into())
        );
    }
}
