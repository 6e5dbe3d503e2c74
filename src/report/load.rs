//! The I/O edge of reporting: reading a stored run (`test.json`, `results.json`,
//! `history.jsonl`) and writing `report.html` beside them.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::data::RunFacts;
use super::html::{render, ReportOptions};
use super::ReportError;
use crate::history::{read_history, Format, History};

/// The report's file name inside a run directory.
pub const REPORT_FILE: &str = "report.html";

fn read_json(path: &Path) -> Result<Option<Value>, ReportError> {
    match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| ReportError::Json {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ReportError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The facts of the run stored in `dir`. `results.json` may be missing (a run killed before
/// checking): the report then shows no checker and the verdict unknown.
pub fn load_facts(dir: &Path) -> Result<RunFacts, ReportError> {
    let results = read_json(&dir.join("results.json"))?;
    if results.is_none() && !dir.join("history.jsonl").is_file() {
        return Err(ReportError::NotARun {
            path: dir.to_path_buf(),
        });
    }
    let test = read_json(&dir.join("test.json"))?;
    RunFacts::from_run_json(
        &dir.display().to_string(),
        test.as_ref(),
        &results.unwrap_or(Value::Null),
    )
}

/// The facts and the history of the run stored in `dir`.
pub fn load_run(dir: &Path) -> Result<(RunFacts, History), ReportError> {
    let facts = load_facts(dir)?;
    let path = dir.join("history.jsonl");
    if !path.is_file() {
        return Err(ReportError::NotARun {
            path: dir.to_path_buf(),
        });
    }
    let (history, _, _) = read_history(&path, Some(Format::Jsonl))?;
    Ok((facts, history))
}

/// Renders the report and writes it to `dir/report.html`, linking the run's other files.
pub fn write_report(
    dir: &Path,
    facts: &RunFacts,
    history: &History,
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
    let page = render(facts, history, &files, opts);
    let path = dir.join(REPORT_FILE);
    fs::write(&path, page).map_err(|source| ReportError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}
