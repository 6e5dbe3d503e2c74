//! Deterministic simulation tests of the Raft core: many seeded runs with partitions
//! (symmetric and one-way), lost, duplicated and reordered messages, crash-restarts, client
//! writes and reads, asserting after every step Election Safety (§5.2), Log Matching (§5.3),
//! Leader Completeness (§5.4), State Machine Safety (§5.4.3) and linearizable reads (thesis
//! §6.4). With each deliberate bug, the same search must find a violation.
//!
//! A failure prints its seed; `RAFTKV_SEED=<n> cargo test -p raftkv --test sim` replays it.

use raftkv::raft::{Bug, Bugs};
use raftkv::sim::{run, seeds, Failure, Outcome, SimConfig, Violation};

/// Runs every seed and panics with the first failure; returns the summed outcome.
fn all_seeds_hold(config: &SimConfig, range: std::ops::Range<u64>) -> Outcome {
    let mut total = Outcome::default();
    for seed in seeds(range) {
        match run(seed, config) {
            Ok(o) => {
                total.writes_acked += o.writes_acked;
                total.reads_served += o.reads_served;
                total.leaders += o.leaders;
                total.crashes += o.crashes;
                total.partitions += o.partitions;
                total.compactions += o.compactions;
                total.snapshots_installed += o.snapshots_installed;
                total.messages += o.messages;
            }
            Err(failure) => panic!("{failure}"),
        }
    }
    total
}

/// Searches seeds for one whose violation `wanted` accepts; panics if none does.
fn some_seed_fails(
    config: &SimConfig,
    range: std::ops::Range<u64>,
    what: &str,
    wanted: impl Fn(&Violation) -> bool,
) -> Failure {
    let mut other = Vec::new();
    for seed in range.clone() {
        if let Err(failure) = run(seed, config) {
            if wanted(&failure.violation) {
                return failure;
            }
            other.push(failure.to_string());
        }
    }
    panic!(
        "no seed in {range:?} showed {what} with bugs {:?}; {} other failures, first: {:?}",
        config.bugs.enabled(),
        other.len(),
        &other[..other.len().min(3)]
    );
}

fn kind_in(kinds: &'static [&'static str]) -> impl Fn(&Violation) -> bool {
    move |v| kinds.contains(&v.kind())
}

/// Checks the runs did what they are for: writes and reads (more than `per_run` of each on
/// average), elections, crashes, partitions and snapshots.
fn assert_exercised(total: &Outcome, runs: u64, per_run: u64) {
    assert!(
        total.writes_acked > per_run * runs,
        "too few writes acknowledged: {total:?}"
    );
    assert!(
        total.reads_served > per_run * runs,
        "too few reads served: {total:?}"
    );
    assert!(total.leaders > runs, "too few elections: {total:?}");
    assert!(total.crashes > runs / 2, "too few crashes: {total:?}");
    assert!(total.partitions > runs, "too few partitions: {total:?}");
    assert!(total.compactions > runs, "too few compactions: {total:?}");
    assert!(
        total.snapshots_installed > 0,
        "no snapshot was ever installed: {total:?}"
    );
}

/// §5.2 election safety, §5.3 log matching, §5.4 leader completeness and state machine
/// safety, thesis §6.4 linearizable reads — 3 nodes, every fault kind.
#[test]
fn three_node_cluster_is_safe_under_faults_over_1000_seeds() {
    let total = all_seeds_hold(&SimConfig::faulty(3), 0..1000);
    if std::env::var("RAFTKV_SEED").is_err() {
        assert_exercised(&total, 1000, 10);
    }
}

/// The same properties with 5 nodes (two may be down at once).
#[test]
fn five_node_cluster_is_safe_under_faults_over_1000_seeds() {
    let total = all_seeds_hold(&SimConfig::faulty(5), 0..1000);
    if std::env::var("RAFTKV_SEED").is_err() {
        assert_exercised(&total, 1000, 10);
    }
}

/// The same properties under the churn that exposes Figure 8 (§5.4.2) when the commit rule
/// is broken: the correct rule must hold there too.
#[test]
fn five_node_cluster_is_safe_under_heavy_churn_over_1000_seeds() {
    let total = all_seeds_hold(&SimConfig::churn(5), 0..1000);
    if std::env::var("RAFTKV_SEED").is_err() {
        // Leaders rarely live long here, so fewer operations complete.
        assert_exercised(&total, 1000, 4);
    }
}

/// One seed, one run: the RNG is the only source of nondeterminism.
#[test]
fn a_seed_replays_the_same_run() {
    let config = SimConfig::faulty(5);
    for seed in [3, 77] {
        assert_eq!(run(seed, &config), run(seed, &config), "seed {seed}");
    }
    assert_ne!(run(3, &config), run(4, &config));
}

/// Thesis §6.4: without a quorum round, a leader's local state can be stale.
#[test]
fn stale_read_bug_serves_stale_reads_thesis_6_4() {
    let config = SimConfig::faulty(3).with_bugs(Bugs::only(Bug::StaleRead));
    let failure = some_seed_fails(&config, 0..1000, "a stale read", kind_in(&["stale_read"]));
    eprintln!("found: {failure}");
    // The first stale read of a run usually comes from a fresh leader whose commit index lags;
    // the deposed-leader case is pinned by the core's unit test
    // `stale_read_bug_serves_a_stale_read_at_a_deposed_leader`.
}

/// §5.3/§5.4: an entry is safe to acknowledge only once committed.
#[test]
fn early_ack_bug_loses_acknowledged_writes() {
    let config = SimConfig::faulty(3).with_bugs(Bugs::only(Bug::EarlyAck));
    let failure = some_seed_fails(
        &config,
        0..1000,
        "a lost acknowledged write",
        kind_in(&["acked_write_lost"]),
    );
    eprintln!("found: {failure}");
}

/// §5.2 and Figure 2: a vote forgotten across a restart is a second vote in the same term.
#[test]
fn volatile_vote_bug_elects_two_leaders_in_a_term_5_2() {
    let config = SimConfig::faulty(3).with_bugs(Bugs::only(Bug::VolatileVote));
    let failure = some_seed_fails(
        &config,
        0..1000,
        "two leaders in a term",
        kind_in(&["two_leaders"]),
    );
    eprintln!("found: {failure}");
}

/// §5.4.2, Figure 8: counting replicas of an older term's entry does not make it committed.
#[test]
fn commit_old_term_bug_loses_committed_entries_5_4_2() {
    // Figure 8 needs an old-term entry replicated to a majority before the new leader's
    // no-op is: one entry per append and frequent leader changes make that common.
    let config = SimConfig::churn(5).with_bugs(Bugs::only(Bug::CommitOldTerm));
    let failure = some_seed_fails(
        &config,
        0..2000,
        "a lost committed entry",
        kind_in(&[
            "committed_entry_changed",
            "leader_completeness",
            "state_machine_safety",
            "acked_write_lost",
        ]),
    );
    eprintln!("found: {failure}");
}
