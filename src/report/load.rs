//! The I/O edge of reporting: reading a stored run (`test.json`, `results.json`,
//! `history.jsonl`) and writing `report.html` beside them.

use std::fs;
use std::path::{Path, PathBuf};

use super::data::{CheckerView, RunFacts};
use super::html::{render_with_messages, ReportOptions};
use super::messages::{self, Diagram};
use super::view::HistoryView;
use super::ReportError;
use crate::history::{read_history_compact, CompactHistory, Format};
use crate::rundir::{ResultsRecord, TestRecord, HISTORY_FILE, RESULTS_FILE};

/// The report's file name inside a run directory.
pub const REPORT_FILE: &str = crate::rundir::REPORT_FILE;

/// The facts of the run stored in `dir`. `results.json` may be missing (a run killed before
/// checking): the report then shows no checker and the verdict unknown. A record in a
/// format newer than this build reads is an error naming the file and its version.
pub fn load_facts(dir: &Path) -> Result<RunFacts, ReportError> {
    let results = ResultsRecord::<CheckerView>::read(dir)?;
    if results.is_none() && !dir.join(HISTORY_FILE).is_file() {
        return Err(ReportError::NotARun {
            path: dir.to_path_buf(),
        });
    }
    let test = TestRecord::read(dir)?;
    Ok(RunFacts::from_records(test.as_ref(), results.as_ref()))
}

/// The facts and the history of the run stored in `dir` (an empty history for a run that
/// never started: its `results.json` says why). `history.jsonl` is read compactly (no
/// `Value` per op); the report renders it through [`super::HistoryView`].
pub fn load_run(dir: &Path) -> Result<(RunFacts, CompactHistory), ReportError> {
    let facts = load_facts(dir)?;
    let path = dir.join(HISTORY_FILE);
    if !path.is_file() {
        // A run that never started stores why in results.json and has no history.
        if dir.join(RESULTS_FILE).is_file() {
            return Ok((facts, CompactHistory::default()));
        }
        return Err(ReportError::NotARun {
            path: dir.to_path_buf(),
        });
    }
    let (history, _, _) = read_history_compact(&path, Some(Format::Jsonl))?;
    Ok((facts, history))
}

/// Renders the report and writes it to `dir/report.html`, linking the run's other files.
pub fn write_report(
    dir: &Path,
    facts: &RunFacts,
    history: &dyn HistoryView,
    opts: &ReportOptions,
) -> Result<PathBuf, ReportError> {
    let mut files: Vec<String> = fs::read_dir(dir)
        .map_err(|source| ReportError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != REPORT_FILE)
        .collect();
    files.sort();
    let diagram = message_diagram(dir, facts, history);
    let page = render_with_messages(facts, history, &files, opts, diagram.as_ref());
    let path = dir.join(REPORT_FILE);
    fs::write(&path, page).map_err(|source| ReportError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The message diagram of the run in `dir`, when it has a message log (`--target
/// maelstrom`); a log that cannot be read leaves the section out.
fn message_diagram(dir: &Path, facts: &RunFacts, history: &dyn HistoryView) -> Option<Diagram> {
    use std::io::BufRead;
    let file = fs::File::open(dir.join(crate::rundir::MESSAGES_FILE)).ok()?;
    let ops = || (0..history.op_count()).map(|i| history.op_facts(i));
    let first_invoke = ops().map(|o| o.invoke_time).min();
    let anomaly = facts.anomaly_ops().into_iter().min().and_then(|id| {
        ops()
            .find(|o| o.invoke_index == id || o.complete_index == Some(id))
            .map(|o| o.invoke_time)
    });
    Some(messages::select(
        std::io::BufReader::new(file).lines().map_while(Result::ok),
        first_invoke,
        anomaly,
    ))
}
