//! faultline: a Jepsen-style consistency test harness.
//!
//! # Layout
//!
//! - [`history`]: the op model, the JSONL history reader/writer, and importers for Jepsen EDN
//!   and Porcupine logs. Pure: readers take any `BufRead`.
//! - [`checker`]: pure functions from a history to a verdict: linearizability (Wing–Gong–Lowe
//!   search with memoization and P-compositionality) over pluggable models.
//! - [`generator`]: pure, seeded op generators and combinators (Jepsen's design): logical
//!   time in a context, a driver for the runner, a simulated interpreter for tests.
//! - [`workload`]: workload definitions (TOML in `workloads/`, validated without I/O) turned
//!   into client and final-read generators and checker settings.
//! - [`seed`]: the seed tree: every random choice of a run draws a sub-seed derived by name
//!   from `--seed`, here and nowhere else.
//! - [`net`], [`journal`], [`node_control`], [`node_addr`], [`placeholders`], [`glob`],
//!   [`fakeclock`], [`powerfs`]: the plumbing at
//!   the bottom, used by both the cluster and the nemesis (which never import each other): the
//!   proxy mesh, iptables rules and namespace plans; the fault journal; the process-control
//!   and leader traits; external node addresses; the `{name}` lexer of user templates; a
//!   node's libfaketime control file; the FUSE filesystem that loses unsynced writes.
//! - [`ssh`]: the OpenSSH client under `--cluster ssh`: shell quoting, `ssh` argument lists,
//!   one multiplexing master per host, commands, uploads and downloads with typed errors.
//! - [`nemesis`]: faults as data (partition maths, the op vocabulary, TOML schedules, the
//!   seeded schedule), one generic [`nemesis::Nemesis`] that journals and dispatches every
//!   fault, and its backends, split by what they touch (network: proxy mesh, iptables,
//!   commands; processes: a local cluster's signals, commands).
//! - [`cluster`]: one process cluster ([`cluster::LocalCluster`]) parameterised by a
//!   launcher (raftkv, etcd), external nodes' probes, and `cluster up|down|status`.
//! - [`client`]: how a worker talks to a node: the `Client` trait, the error mapping
//!   (ok / fail / info), the raftkv and etcd clients and the templated HTTP client (TOML).
//! - [`maelstrom`]: Maelstrom-protocol stdio nodes: the wire format, the error table, the
//!   message shapes, the in-process network, the node processes and their clients.
//! - [`target`]: the systems under test, typed: one module per target owning its flags and
//!   checks, starting its nodes, clients and nemesis.
//!
//! - [`rundir`]: a run directory, typed: its file names, `test.json` and `results.json` as
//!   versioned serde records, the directory itself and its log. Shared by the runner (which
//!   writes) and the report, `serve` and JUnit (which read).
//! - [`runner`]: the test lifecycle, the only part that spawns tasks and reads the clock:
//!   workers, the nemesis task, history streaming, heal on every path, the results store.
//!   It takes its cancellation from the caller ([`runner::Shutdown`]).
//! - [`report`]: report.html (anomalies, timeline, plots) and JUnit XML, rendered purely from a
//!   run's facts and history.
//! - [`cli`]: the `faultline` commands (`check`, `test`, `cluster`, `report`, `serve`) over the
//!   parts above.
//! - [`procmem`]: this process's peak memory and CPU time (`check --json`, the benches).
//! - [`detection`]: the pure half of the detection bench (`cargo bench --bench detection`):
//!   verdicts, time to the first anomalous op, the table.
#![warn(missing_docs)]

pub mod checker;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod detection;
pub mod fakeclock;
pub mod generator;
pub mod glob;
pub mod history;
pub mod journal;
pub mod maelstrom;
pub mod nemesis;
pub mod net;
pub mod node_addr;
pub mod node_control;
pub mod placeholders;
pub mod powerfs;
pub mod procmem;
pub mod report;
pub mod rundir;
pub mod runner;
pub mod seed;
pub mod ssh;
pub mod target;
pub mod workload;
