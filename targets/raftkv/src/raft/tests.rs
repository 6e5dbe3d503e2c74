//! Unit tests of the core, named for the behaviour and citing the section of the Raft paper
//! (or Ongaro's thesis) they check.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::testnet::{log_with_terms, recovered, Net};
use super::{
    Bug, Bugs, Config, Message, MessageBody, Payload, RaftError, RaftNode, Recovered, Role,
};

fn vote_request(from: u64, to: u64, term: u64, last_index: u64, last_term: u64) -> Message {
    Message {
        from,
        to,
        term,
        body: MessageBody::Vote {
            last_index,
            last_term,
        },
    }
}

fn granted_votes(ready: &super::Ready) -> Vec<(u64, bool)> {
    ready
        .persisted_messages
        .iter()
        .filter_map(|m| match m.body {
            MessageBody::VoteResponse { granted } => Some((m.to, granted)),
            _ => None,
        })
        .collect()
}

// ----- §5.2 leader election -----------------------------------------------------------------

#[test]
fn a_candidate_with_votes_from_a_majority_becomes_leader_5_2() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    assert_eq!(net.node(1).role(), Role::Leader);
    assert_eq!(net.node(1).term(), 1);
    for id in [2, 3] {
        assert_eq!(net.node(id).role(), Role::Follower, "node {id}");
        assert_eq!(net.node(id).leader(), Some(1), "node {id}");
        assert_eq!(
            net.disks[&id].hard_state.vote,
            Some(1),
            "node {id} persisted its vote"
        );
    }
}

#[test]
fn a_node_grants_at_most_one_vote_per_term_5_2() {
    let rng = ChaCha8Rng::seed_from_u64(1);
    let mut node = RaftNode::new(Config::new(2, vec![1, 2, 3]), Recovered::default(), rng)
        .expect("valid config");
    node.step(vote_request(1, 2, 1, 0, 0));
    node.step(vote_request(3, 2, 1, 0, 0));
    node.step(vote_request(1, 2, 1, 0, 0)); // a retransmission is granted again
    let ready = node.ready();
    assert_eq!(
        granted_votes(&ready),
        vec![(1, true), (3, false), (1, true)]
    );
    assert_eq!(ready.hard_state.map(|hs| hs.vote), Some(Some(1)));
    assert!(
        ready.messages.is_empty(),
        "vote answers wait for the persist"
    );
}

#[test]
fn a_voter_rejects_a_candidate_whose_log_is_less_up_to_date_5_4_1() {
    // Case: (candidate last index, last term) against a voter whose log ends at (3, term 2).
    let cases = [
        ((3, 2), true),
        ((2, 2), false),
        ((9, 1), false),
        ((1, 3), true),
    ];
    for (i, ((last_index, last_term), want)) in cases.into_iter().enumerate() {
        let rng = ChaCha8Rng::seed_from_u64(1);
        let mut node = RaftNode::new(Config::new(2, vec![1, 2, 3]), recovered(2, &[1, 2, 2]), rng)
            .expect("valid");
        node.step(vote_request(1, 2, 5, last_index, last_term));
        let got = granted_votes(&node.ready());
        assert_eq!(got, vec![(1, want)], "case {i}");
    }
}

#[test]
fn election_timeouts_are_randomized_and_replay_from_the_seed_5_2() {
    let timeout = |seed: u64| {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        let mut node =
            RaftNode::new(Config::new(1, vec![1, 2, 3]), Recovered::default(), rng).expect("valid");
        let mut ticks = 0;
        while node.role() == Role::Follower {
            node.tick();
            ticks += 1;
        }
        ticks
    };
    let timeouts: Vec<u64> = (0..20).map(timeout).collect();
    assert!(
        timeouts.iter().all(|&t| (10..20).contains(&t)),
        "{timeouts:?}"
    );
    assert!(
        timeouts.iter().any(|&t| t != timeouts[0]),
        "not randomized: {timeouts:?}"
    );
    assert_eq!(
        timeouts,
        (0..20).map(timeout).collect::<Vec<_>>(),
        "same seeds replay"
    );
}

#[test]
fn a_new_leader_appends_a_no_op_of_its_term_5_4_2() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    let log = net.node(1).log_entries().to_vec();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].term, &log[0].payload), (1, &Payload::Noop));
    assert_eq!(net.node(1).commit_index(), 1, "the no-op commits at once");
}

// ----- §5.3 log replication ------------------------------------------------------------------

#[test]
fn committed_commands_are_applied_everywhere_in_order_5_3() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    for cmd in [b"a", b"b", b"c"] {
        net.propose(1, cmd);
    }
    net.tick_all(2); // heartbeats carry the commit index to followers
    for id in 1..=3 {
        assert_eq!(
            net.commands(id),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()],
            "node {id}"
        );
    }
}

#[test]
fn a_follower_rejects_an_append_failing_the_consistency_check_with_a_hint_5_3() {
    // Follower log terms [1, 1, 2, 2, 2]; cases: (prev index, prev term) -> expected answer.
    let cases = [
        ((5, 2), None),               // matches: accepted
        ((7, 3), Some((None, 6))),    // past the end: conflict index = last + 1
        ((4, 3), Some((Some(2), 3))), // term 2 at index 4 starts at index 3
        ((2, 9), Some((Some(1), 1))),
    ];
    for (i, ((prev_index, prev_term), want)) in cases.into_iter().enumerate() {
        let rng = ChaCha8Rng::seed_from_u64(1);
        let mut node = RaftNode::new(
            Config::new(2, vec![1, 2, 3]),
            recovered(3, &[1, 1, 2, 2, 2]),
            rng,
        )
        .expect("valid");
        node.step(Message {
            from: 1,
            to: 2,
            term: 3,
            body: MessageBody::Append {
                prev_index,
                prev_term,
                entries: vec![],
                commit: 0,
            },
        });
        let ready = node.ready();
        let got = ready.persisted_messages.iter().find_map(|m| match m.body {
            MessageBody::AppendAccepted { .. } => Some(None),
            MessageBody::AppendRejected {
                conflict_term,
                conflict_index,
                ..
            } => Some(Some((conflict_term, conflict_index))),
            _ => None,
        });
        assert_eq!(got, Some(want), "case {i}");
    }
}

#[test]
fn a_leader_overwrites_conflicting_follower_entries_5_3() {
    // Figure 7-like: node 1 (term 6 log) leads; nodes 2 and 3 hold divergent suffixes.
    let mut config = Config::new(1, vec![1, 2, 3]);
    config.max_entries_per_append = 2;
    let mut net = Net::with_logs(
        config,
        &[
            recovered(6, &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6]),
            recovered(6, &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]),
            recovered(6, &[1, 1, 1, 4]),
        ],
    );
    net.campaign(1);
    assert_eq!(net.node(1).role(), Role::Leader);
    let leader_log = net.log_terms(1);
    for id in [2, 3] {
        assert_eq!(net.log_terms(id), leader_log, "node {id}");
        // The host was told to truncate: its stored log equals the leader's too.
        let disk: Vec<(u64, u64)> = net.disks[&id]
            .entries
            .iter()
            .map(|e| (e.index, e.term))
            .collect();
        assert_eq!(disk, leader_log, "node {id} disk");
    }
}

#[test]
fn fast_back_off_skips_a_whole_conflicting_term_per_round_trip_5_3() {
    // Follower 2 has 7 entries of term 3 the leader lacks; a one-entry-at-a-time back-off
    // would need 7+ rejections, the conflict-term hint needs one.
    let mut net = Net::with_logs(
        Config::new(1, vec![1, 2, 3]),
        &[
            recovered(6, &[1, 1, 4, 4, 4, 4, 4, 4, 4, 4]),
            recovered(6, &[1, 1, 3, 3, 3, 3, 3, 3, 3]),
            recovered(6, &[1, 1, 4, 4, 4, 4, 4, 4, 4, 4]),
        ],
    );
    net.campaign(1);
    let rejections = net
        .delivered
        .iter()
        .filter(|m| m.from == 2 && matches!(m.body, MessageBody::AppendRejected { .. }))
        .count();
    assert!(rejections <= 2, "{rejections} rejections");
    let leader_log = net.log_terms(1);
    assert_eq!(net.log_terms(2), leader_log);
}

#[test]
fn appends_carry_at_most_max_entries_per_append_5_3() {
    let mut config = Config::new(1, vec![1, 2, 3]);
    config.max_entries_per_append = 3;
    let logs = [recovered(2, &[1; 20]), recovered(2, &[]), recovered(2, &[])];
    let mut net = Net::with_logs(config, &logs);
    net.campaign(1);
    let biggest = net
        .delivered
        .iter()
        .filter_map(|m| match &m.body {
            MessageBody::Append { entries, .. } => Some(entries.len()),
            _ => None,
        })
        .max();
    assert_eq!(biggest, Some(3));
    let leader_log = net.log_terms(1);
    assert_eq!(net.log_terms(3), leader_log);
}

#[test]
fn a_burst_of_proposals_is_pipelined_in_bounded_appends_5_3() {
    let mut config = Config::new(1, vec![1, 2, 3]);
    config.max_entries_per_append = 2;
    config.max_append_burst = 3;
    let mut net = Net::with_logs(config, &vec![Recovered::default(); 3]);
    net.campaign(1);
    for i in 0..20u8 {
        net.node(1).propose(vec![i]).expect("leader");
    }
    let ready = net.node(1).ready();
    assert_eq!(
        ready.entries.len(),
        20,
        "one Ready persists the whole burst (group commit)"
    );
    let to_2: Vec<usize> = ready
        .messages
        .iter()
        .filter(|m| m.to == 2)
        .filter_map(|m| match &m.body {
            MessageBody::Append { entries, .. } => Some(entries.len()),
            _ => None,
        })
        .collect();
    assert_eq!(
        to_2,
        vec![2, 2, 2],
        "max_append_burst messages of max_entries_per_append"
    );
    net.node(1).advance();
    for msg in ready.messages {
        net.node(msg.to).step(msg);
    }
    net.deliver();
    assert_eq!(
        net.node(2).last_index(),
        21,
        "the rest follows the acknowledgements"
    );
}

#[test]
fn acknowledgements_and_appends_go_out_only_after_the_entries_are_persisted() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    net.node(1).propose(b"x".to_vec()).expect("leader");
    let ready = net.node(1).ready();
    assert_eq!(
        ready.entries.len(),
        1,
        "the leader's own entry is to be persisted"
    );
    let append = ready
        .messages
        .iter()
        .find(|m| matches!(m.body, MessageBody::Append { .. }));
    let append = append
        .expect("a leader may send appends before its own persist")
        .clone();
    net.node(1).advance();
    net.node(2).step(append);
    let ready = net.node(2).ready();
    assert_eq!(ready.entries.len(), 1);
    assert!(ready
        .persisted_messages
        .iter()
        .any(|m| matches!(m.body, MessageBody::AppendAccepted { match_index: 2 })));
    assert!(
        ready.messages.is_empty(),
        "no acknowledgement before the persist"
    );
}

// ----- §5.4.2 the commit rule (Figure 8) ---------------------------------------------------

/// Builds Figure 8 (c): node 1 leads term 4 with log [1, 2, 4], nodes 2 and 3 receive the
/// term-2 entry at index 2 but not the term-4 no-op, node 5 holds [1, 3] from term 3.
fn figure_8(bugs: Bugs) -> Net {
    let mut config = Config::new(1, vec![1, 2, 3, 4, 5]);
    config.max_entries_per_append = 1;
    config.bugs = bugs;
    let mut s5 = recovered(4, &[1, 3]);
    s5.hard_state.vote = Some(5);
    let mut net = Net::with_logs(
        config,
        &[
            recovered(3, &[1, 2]),
            recovered(3, &[1]),
            recovered(3, &[1]),
            recovered(3, &[1]),
            s5,
        ],
    );
    // Node 1 wins term 4 (node 5 never hears of it) but its no-op never reaches anyone.
    for _ in 0..100 {
        if net.node(1).role() != Role::Follower {
            break;
        }
        net.node(1).tick();
    }
    let lose = |m: &Message| {
        m.to == 5
            || m.from == 5
            || m.to == 4 && matches!(m.body, MessageBody::Append { .. })
            || matches!(&m.body, MessageBody::Append { entries, .. }
                        if entries.iter().any(|e| e.term == 4))
    };
    net.deliver_filtered(lose);
    // Heartbeat rounds make the leader back off and resend index 2, one entry at a time.
    for _ in 0..10 {
        net.node(1).tick();
        net.deliver_filtered(lose);
    }
    assert_eq!(net.node(1).role(), Role::Leader);
    assert_eq!(net.node(1).term(), 4);
    net
}

#[test]
fn a_leader_never_commits_an_old_term_entry_by_counting_replicas_5_4_2() {
    let mut net = figure_8(Bugs::default());
    assert_eq!(net.node(1).term_at(2), Some(2));
    assert_eq!(
        net.node(2).term_at(2),
        Some(2),
        "index 2 is on a majority: 1, 2, 3"
    );
    assert_eq!(net.node(3).term_at(2), Some(2));
    assert_eq!(
        net.node(1).commit_index(),
        0,
        "§5.4.2: not committed by counting"
    );
}

#[test]
fn commit_old_term_bug_commits_an_entry_that_is_later_overwritten_figure_8() {
    let mut net = figure_8(Bugs::only(Bug::CommitOldTerm));
    assert_eq!(
        net.node(1).commit_index(),
        2,
        "the bug counts replicas of term 2"
    );
    assert!(
        net.applied[&1].iter().any(|e| e.index == 2 && e.term == 2),
        "and applies it"
    );
    // (d): node 1 crashes; node 5, whose last term 3 beats term 2, wins term 5 and
    // overwrites index 2 everywhere.
    net.stop(1);
    for id in [2, 3, 4] {
        net.restart(id); // forget the lease on node 1
    }
    net.campaign(5);
    assert_eq!(net.node(5).role(), Role::Leader);
    assert_eq!(
        net.node(2).term_at(2),
        Some(3),
        "the 'committed' entry is gone"
    );
}

// ----- pre-vote and leader stickiness (thesis §9.6, §6.2) ----------------------------------

#[test]
fn a_partitioned_node_does_not_unseat_a_healthy_leader_on_return_thesis_9_6() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    net.isolate(3);
    net.tick_all(100); // node 3 keeps timing out, alone
    assert_eq!(
        net.node(3).term(),
        1,
        "pre-vote: no term bump without a quorum"
    );
    assert_ne!(net.node(3).role(), Role::Leader);
    net.heal();
    net.tick_all(30);
    assert_eq!(net.node(1).role(), Role::Leader);
    assert_eq!(net.node(1).term(), 1);
    assert_eq!(net.node(3).leader(), Some(1));
}

#[test]
fn followers_ignore_vote_requests_while_they_hear_from_a_leader() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    // Node 3 somehow campaigns in term 7 (e.g. it lost pre-vote's protection by a bug).
    net.node(2).step(vote_request(3, 2, 7, 99, 7));
    net.deliver();
    assert_eq!(
        net.node(2).term(),
        1,
        "leader stickiness: the term did not move"
    );
    assert_eq!(net.node(1).role(), Role::Leader);
}

#[test]
fn a_leader_that_loses_its_quorum_steps_down() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    net.isolate(1);
    net.tick_all(25);
    assert_ne!(net.node(1).role(), Role::Leader, "check-quorum");
}

// ----- §7 snapshots and log compaction ---------------------------------------------------------

#[test]
fn a_lagging_follower_catches_up_through_install_snapshot_7() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    net.isolate(3);
    for i in 0..10u8 {
        net.propose(1, &[i]);
    }
    let applied = net.node(1).applied_index();
    net.node(1)
        .compact(applied, b"state".to_vec())
        .expect("applied");
    assert!(net.node(1).log_entries().is_empty(), "compacted");
    net.heal();
    net.tick_all(4);
    assert_eq!(
        net.disks[&3].snapshot.as_ref().map(|s| s.index),
        Some(applied)
    );
    assert_eq!(
        net.disks[&3].snapshot.as_ref().map(|s| s.data.clone()),
        Some(b"state".to_vec())
    );
    assert_eq!(net.node(3).snapshot_position().0, applied);
    net.propose(1, b"after");
    net.tick_all(2);
    assert_eq!(
        net.commands(3),
        vec![b"after".to_vec()],
        "applies on top of the snapshot"
    );
}

#[test]
fn a_lost_snapshot_is_resent_after_a_cooldown_not_every_heartbeat_7() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    net.isolate(3);
    for i in 0..10u8 {
        net.propose(1, &[i]);
    }
    let applied = net.node(1).applied_index();
    net.node(1)
        .compact(applied, b"state".to_vec())
        .expect("applied");
    net.heal();
    let mut sent = 0;
    for _ in 0..20 {
        net.node(1).tick();
        net.deliver_filtered(|m| {
            let snapshot = matches!(m.body, MessageBody::InstallSnapshot { .. });
            sent += usize::from(snapshot);
            snapshot
        });
    }
    // 20 ticks hold 10 heartbeats but only 2 election timeouts of cooldown.
    assert!((1..=3).contains(&sent), "{sent} snapshots sent");
    net.tick_all(12);
    assert_eq!(
        net.node(3).snapshot_position().0,
        applied,
        "delivered once not lost"
    );
}

#[test]
fn a_stale_snapshot_does_not_discard_acknowledged_entries_7() {
    // Regression (found by the simulation, seed 169): a delayed InstallSnapshot covering a
    // prefix of the follower's log made it drop entries it had already acknowledged.
    let rng = ChaCha8Rng::seed_from_u64(1);
    let mut node = RaftNode::new(
        Config::new(2, vec![1, 2, 3]),
        recovered(3, &[3, 3, 3, 3]),
        rng,
    )
    .expect("valid");
    node.step(Message {
        from: 1,
        to: 2,
        term: 3,
        body: MessageBody::InstallSnapshot {
            snapshot: super::Snapshot {
                index: 2,
                term: 3,
                data: vec![],
            },
        },
    });
    assert_eq!(
        node.last_index(),
        4,
        "§7: retain log entries following the snapshot's"
    );
    assert_eq!(node.commit_index(), 2);
    let ready = node.ready();
    assert!(ready.snapshot.is_none());
    assert_eq!(
        ready.committed_entries.len(),
        2,
        "the prefix is applied the ordinary way"
    );
}

#[test]
fn compaction_refuses_an_index_not_yet_applied_7() {
    let mut net = Net::new(1, Bugs::default());
    net.campaign(1);
    let err = net.node(1).compact(5, vec![]).map(|_| ()).unwrap_err();
    assert_eq!(
        err,
        RaftError::CompactBeyondApplied {
            index: 5,
            applied: 1
        }
    );
}

#[test]
fn a_restarted_node_recovers_from_its_snapshot_and_log_7() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    for i in 0..5u8 {
        net.propose(1, &[i]);
    }
    net.tick_all(2);
    let applied = net.node(2).applied_index();
    net.node(2)
        .compact(applied - 2, b"snap".to_vec())
        .expect("applied");
    net.disks.get_mut(&2).expect("disk").snapshot = net.node(2).snapshot().cloned();
    net.restart(2);
    assert_eq!(net.node(2).snapshot_position().0, applied - 2);
    assert_eq!(net.node(2).last_index(), net.node(1).last_index());
    let ready = net.node(2).ready();
    assert_eq!(
        ready.committed_entries.len(),
        2,
        "re-applies what follows the snapshot"
    );
}

// ----- ReadIndex (thesis §6.4) -----------------------------------------------------------------

#[test]
fn a_read_is_served_only_after_a_quorum_confirms_leadership_thesis_6_4() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    net.propose(1, b"w");
    net.node(1).read_index(42).expect("leader");
    net.drain(1);
    assert!(net.reads[&1].is_empty(), "not before the heartbeat round");
    net.deliver();
    let index = net.node(1).commit_index();
    assert_eq!(net.reads[&1], vec![super::ReadState { id: 42, index }]);
}

#[test]
fn a_partitioned_leader_serves_no_reads_thesis_6_4() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    net.isolate(1);
    net.node(1).read_index(7).expect("still believes it leads");
    net.tick_all(30);
    assert!(net.reads[&1].is_empty());
    assert_eq!(net.failed_reads[&1], vec![7], "failed once it stepped down");
}

#[test]
fn stale_read_bug_lets_a_partitioned_leader_serve_reads() {
    let mut net = Net::new(3, Bugs::only(Bug::StaleRead));
    net.campaign(1);
    net.isolate(1);
    net.node(1).read_index(7).expect("still believes it leads");
    net.drain(1);
    assert_eq!(net.reads[&1].len(), 1, "served without a quorum round");
}

/// Node 1 leads, then pauses while partitioned; nodes 2 and 3 elect a new leader and commit a
/// write; node 1, still believing it leads, is asked for a read. Returns the net and whether
/// node 1 served the read without the write.
fn read_at_a_paused_old_leader(bugs: Bugs) -> (Net, bool) {
    let mut net = Net::new(3, bugs);
    net.campaign(1);
    net.isolate(1);
    net.tick_only(&[2, 3], 40);
    let new_leader = [2, 3]
        .into_iter()
        .find(|&id| net.node(id).role() == Role::Leader)
        .expect("nodes 2 and 3 elect a leader");
    net.propose(new_leader, b"new");
    assert_eq!(
        net.commands(new_leader),
        vec![b"new".to_vec()],
        "acknowledged"
    );
    assert_eq!(
        net.node(1).role(),
        Role::Leader,
        "node 1 still believes it leads"
    );
    net.node(1).read_index(5).expect("believes it leads");
    net.drain(1);
    let stale = !net.reads[&1].is_empty() && !net.commands(1).contains(&b"new".to_vec());
    (net, stale)
}

#[test]
fn a_deposed_leader_cannot_serve_a_stale_read_thesis_6_4() {
    let (mut net, stale) = read_at_a_paused_old_leader(Bugs::default());
    assert!(!stale);
    net.heal();
    net.tick_all(5);
    assert!(net.reads[&1].is_empty(), "never confirmed by a quorum");
    assert_eq!(
        net.failed_reads[&1],
        vec![5],
        "failed when it learnt the new term"
    );
}

#[test]
fn stale_read_bug_serves_a_stale_read_at_a_deposed_leader() {
    let (_, stale) = read_at_a_paused_old_leader(Bugs::only(Bug::StaleRead));
    assert!(stale, "the read missed an acknowledged write");
}

#[test]
fn a_new_leader_serves_reads_only_after_committing_an_entry_of_its_term_thesis_6_4() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    net.node(1).read_index(1).expect("leader"); // the no-op is already committed
    net.deliver();
    assert_eq!(net.reads[&1].len(), 1);
    // A fresh leader whose no-op cannot commit yet (followers unreachable) holds the read.
    let mut net = Net::new(3, Bugs::default());
    for _ in 0..100 {
        if net.node(1).role() != Role::Follower {
            break;
        }
        net.node(1).tick();
    }
    net.deliver_filtered(|m| matches!(m.body, MessageBody::Append { .. }));
    assert_eq!(net.node(1).role(), Role::Leader);
    net.node(1).read_index(9).expect("leader");
    net.deliver_filtered(|m| matches!(m.body, MessageBody::Append { .. }));
    assert!(net.reads[&1].is_empty());
}

#[test]
fn proposals_and_reads_on_a_follower_name_the_leader() {
    let mut net = Net::new(3, Bugs::default());
    net.campaign(1);
    let want = RaftError::NotLeader {
        node: 2,
        leader: Some(1),
    };
    assert_eq!(
        net.node(2).propose(b"x".to_vec()).map(|_| ()),
        Err(want.clone())
    );
    assert_eq!(net.node(2).read_index(1), Err(want));
}

// ----- the other bugs, as the host sees them -----------------------------------------------

#[test]
fn volatile_vote_bug_never_reports_term_or_vote_for_persistence() {
    let mut net = Net::new(3, Bugs::only(Bug::VolatileVote));
    net.campaign(1);
    assert_eq!(net.node(2).vote(), Some(1));
    let hs = net.disks[&2].hard_state;
    assert_eq!((hs.term, hs.vote), (0, None));
    net.restart(2);
    assert_eq!(
        (net.node(2).term(), net.node(2).vote()),
        (0, None),
        "forgotten"
    );
}

#[test]
fn early_ack_bug_hands_uncommitted_entries_to_the_host() {
    let mut net = Net::new(3, Bugs::only(Bug::EarlyAck));
    net.campaign(1);
    net.isolate(1);
    net.node(1).propose(b"lost".to_vec()).expect("leader");
    net.drain(1);
    assert_eq!(net.node(1).commit_index(), 1, "not committed");
    assert_eq!(
        net.commands(1),
        vec![b"lost".to_vec()],
        "yet handed out for applying"
    );
}

#[test]
fn restart_rejects_a_log_with_a_gap() {
    let mut entries = log_with_terms(&[1, 1, 1]);
    entries.remove(1);
    let rec = Recovered {
        entries,
        ..Recovered::default()
    };
    let rng = ChaCha8Rng::seed_from_u64(1);
    let err = RaftNode::new(Config::new(1, vec![1]), rec, rng)
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("entry index 3 does not follow index 1"),
        "{err}"
    );
}

// ----- Lease reads (thesis §6.4.1) -------------------------------------------------------------

/// One tick of the hosts' clocks in these tests, in microseconds.
const TICK_US: u64 = 20_000;

/// The lease a host picks for 10-tick election timeouts: (10 - 1) ticks less a 20 ms drift
/// bound.
const LEASE_US: u64 = 9 * TICK_US - 20_000;

/// Three nodes in lease mode, run until one leads and has committed an entry of its term;
/// returns the net and the leader.
fn lease_cluster() -> (Net, u64) {
    let mut config = Config::new(1, vec![1, 2, 3]);
    config.read_mode = super::ReadMode::Lease { lease_us: LEASE_US };
    let mut net = Net::with_logs(config, &vec![Recovered::default(); 3]);
    net.tick_all(40);
    let leader = (1..=3)
        .find(|&id| net.node(id).role() == Role::Leader)
        .expect("a leader within 40 ticks");
    net.propose(leader, b"w");
    (net, leader)
}

/// Ticks the leader with its clock at `now` and delivers: it stamps its heartbeat rounds with
/// `now`, and a quorum's acknowledgements start its lease there.
fn leader_tick_at(net: &mut Net, leader: u64, now: u64) {
    net.node(leader).set_clock(now);
    net.node(leader).tick();
    net.deliver();
}

/// Asks `node` for read `id` with its clock at `now`; true when it answers at once, without
/// a heartbeat round (a lease read).
fn served_locally(net: &mut Net, node: u64, id: u64, now: u64) -> bool {
    let before = net.reads[&node].len();
    net.node(node).set_clock(now);
    if net.node(node).read_index(id).is_err() {
        return false;
    }
    net.drain(node);
    net.reads[&node].len() > before
}

#[test]
fn a_lease_serves_reads_locally_until_it_expires_thesis_6_4_1() {
    let (mut net, leader) = lease_cluster();
    let t0 = 1_000_000;
    leader_tick_at(&mut net, leader, t0);
    leader_tick_at(&mut net, leader, t0);
    assert!(served_locally(&mut net, leader, 1, t0 + LEASE_US - 1));
    assert!(
        !served_locally(&mut net, leader, 2, t0 + LEASE_US),
        "expired"
    );
    net.deliver();
    let ids: Vec<u64> = net.reads[&leader].iter().map(|r| r.id).collect();
    assert_eq!(ids, [1, 2], "the expired read took the ReadIndex path");
    // The ReadIndex round renewed the lease from its send time.
    assert!(served_locally(&mut net, leader, 3, t0 + LEASE_US + 1));
}

/// Cuts the leader off right after a quorum acknowledged a round sent at `t0`, then runs the
/// other nodes' clocks tick by tick while the leader's clock runs at `rate` times theirs; at
/// every tick the old leader is asked for a read. Returns whether it served one locally while
/// another node led (a read that may be stale).
fn lease_read_while_another_leads(rate: f64) -> bool {
    let (mut net, leader) = lease_cluster();
    let t0 = 5_000_000;
    leader_tick_at(&mut net, leader, t0);
    leader_tick_at(&mut net, leader, t0);
    net.isolate(leader);
    let others: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    for k in 1..=60u64 {
        net.tick_only(&others, 1);
        let other_leads = others.iter().any(|&id| net.node(id).role() == Role::Leader);
        let now = t0 + (k as f64 * TICK_US as f64 * rate) as u64;
        if served_locally(&mut net, leader, 100 + k, now) && other_leads {
            return true;
        }
    }
    false
}

#[test]
fn a_cut_off_leaders_lease_ends_before_another_leader_is_elected_thesis_6_4_1() {
    // Clocks in step, or the leader's up to the drift bound slow: never two leaders serving.
    assert!(!lease_read_while_another_leads(1.0));
    assert!(!lease_read_while_another_leads(0.9));
    // Faster on the leader is always safe.
    assert!(!lease_read_while_another_leads(3.0));
}

#[test]
fn a_slow_leader_clock_makes_lease_reads_stale() {
    // The leader's clock at a third of its followers' speed: its lease outlasts their wait.
    assert!(lease_read_while_another_leads(0.3));
}

#[test]
fn a_restarted_node_grants_no_vote_for_an_election_timeout_in_lease_mode() {
    let (mut net, leader) = lease_cluster();
    let others: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    let (restarted, candidate) = (others[0], others[1]);
    leader_tick_at(&mut net, leader, 1_000_000);
    net.isolate(leader);
    // `restarted` acknowledged the round, then crashes and comes back at once.
    net.restart(restarted);
    net.campaign(candidate);
    assert_ne!(
        net.node(candidate).role(),
        Role::Leader,
        "refused while quiet"
    );
    // After an election timeout of its own clock it votes again.
    net.tick_only(&others, 40);
    assert!(
        others.iter().any(|&id| net.node(id).role() == Role::Leader),
        "no new leader after the quiet start"
    );
}

#[test]
fn a_cut_off_leader_steps_down_once_its_lease_is_over() {
    let (mut net, leader) = lease_cluster();
    let t0 = 1_000_000;
    leader_tick_at(&mut net, leader, t0);
    leader_tick_at(&mut net, leader, t0);
    net.isolate(leader);
    // Its clock stands still (a wall clock stepped back): the lease holds, it keeps leading.
    for _ in 0..40 {
        leader_tick_at(&mut net, leader, t0);
    }
    assert_eq!(net.node(leader).role(), Role::Leader);
    // Once the clock passes the lease, the next quorum check deposes it.
    for _ in 0..20 {
        leader_tick_at(&mut net, leader, t0 + LEASE_US);
    }
    assert_ne!(net.node(leader).role(), Role::Leader);
}
