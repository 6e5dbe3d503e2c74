//! The test lifecycle: the only part of faultline that spawns tasks, owns channels, sleeps
//! and stamps ops with the clock. It starts the cluster, drives the workers and the nemesis
//! from the generator, streams the history, heals on every exit path, runs the checkers and
//! stores the run.
//!
//! - [`config`]: the resolved test configuration (`test.json`), validated before anything starts.
//! - [`store`]: the run directory `results/<test>/<timestamp>/` and `results/latest`.
//! - [`recorder`]: numbers events and streams them to `history.jsonl`.
//! - [`interpreter`]: Jepsen's interpreter: generator → workers/nemesis → history.
//! - [`system`]: the started system under test (from [`crate::target`]): its clients, its
//!   nemesis, its teardown.
//! - [`shutdown`]: cancellation as an argument: the caller's [`Shutdown`].
//! - [`progress`]: the progress line.
//! - [`run`]: one test end to end.

pub mod config;
pub mod interpreter;
pub mod progress;
pub mod recorder;
pub mod run;
pub mod setup;
pub mod shutdown;
pub mod store;
pub mod system;

pub use config::TestConfig;
pub use run::{run_test, TestError, TestReport};
pub use shutdown::{shutdown, Shutdown, ShutdownTrigger};
