//! Reports a person can read: `report.html` (verdict banners, anomalies with links into a
//! canvas timeline, the Porcupine-style view of a linearizability failure, latency and
//! throughput plots, availability per fault window), and JUnit XML for CI.
//!
//! Rendering is pure — facts and history in, a string out — so the runner, `faultline check
//! --report`, `faultline report` and the tests share it; only [`load`] touches the disk.
//!
//! - [`data`]: what a report shows, read from the run's records (`test.json`, `results.json`).
//! - [`faults`]: fault windows from the history's nemesis events.
//! - [`timeline`]: lanes, op columns and the downsampling of big histories.
//! - [`plots`]: latency, throughput (SVG) and availability.
//! - [`linear_view`]: the view of one linearizability witness.
//! - [`messages`]: the message (Lamport) diagram of a `--target maelstrom` run.
//! - [`html`]: the page, with its embedded assets (`assets/report.css`, `assets/report.js`).
//! - [`junit`]: JUnit XML.
//! - [`escape`]: HTML, XML and script-JSON escaping.
//! - [`load`]: reading a run directory and writing `report.html` into it.
//! - [`view`]: what the report reads of a history ([`HistoryView`]), implemented by both
//!   `History` and the compact history, so neither is converted into the other to render.

pub mod data;
pub mod escape;
pub mod faults;
pub mod html;
pub mod junit;
pub mod linear_view;
pub mod load;
pub mod messages;
pub mod plots;
pub mod timeline;
pub mod view;

pub use data::RunFacts;
pub use html::{render, ReportOptions};
pub use junit::junit_xml;
pub use load::{load_facts, load_run, write_report, REPORT_FILE};
pub use view::HistoryView;

use std::path::PathBuf;

/// Why a report could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `test.json` or `results.json` could not be read: not JSON, the wrong shape, or a
    /// format version newer than this build reads (the error names the file and version).
    #[error(transparent)]
    Record(#[from] crate::rundir::RecordError),
    /// A JSON file has the wrong shape.
    #[error("{what}: {reason}")]
    Shape {
        /// What was read, naming the file.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The history could not be read.
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    /// The directory holds no run.
    #[error("{}: not a run directory (no history.jsonl or results.json)", path.display())]
    NotARun {
        /// The directory.
        path: PathBuf,
    },
}
