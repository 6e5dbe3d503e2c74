//! `faultline check`'s read of a JSONL history while its quiet keys are searched
//! (`checker::linear::stream`): when it applies, and the file opened and sniffed the way
//! `history::read_history_loaded` does.
//!
//! It applies to JSONL (given, or the file's first significant line guesses it) checked for
//! linearizability by key: `--model` a per-key linearizability model or no `--model` (the
//! model is then guessed from the ops read so far), partitioning on. `FAULTLINE_STREAM_CHECK=0`
//! turns it off (tests and `benches/scale.rs` compare both ways); `FAULTLINE_STREAM_WINDOW=N`
//! sets the quiet window in events; `FAULTLINE_STREAM_WAIT=1` makes the reader wait for the
//! searches after each chunk (tests: what is decided while reading no longer depends on
//! timing).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::check::{guess_linear_model, CheckArgs};
use crate::checker::linear::stream::{
    read_jsonl_speculating, SpecModel, Speculation, StreamOptions,
};
use crate::checker::{CheckModel, ModelKind, ModelOptions};
use crate::history::{guess, CompactHistory, Format, HistoryError};

/// How far into a file the format is sniffed for: a first line longer than this is read the
/// usual way.
const SNIFF_BYTES: usize = 64 << 10;

/// Reads `path` while searching its quiet keys, when that applies; `None` when it does not
/// (the caller reads the usual way). The history, its format, whether the format was guessed
/// and what was searched.
pub(super) fn read_speculating(
    path: &Path,
    args: &CheckArgs,
    model_options: &ModelOptions,
) -> Option<Result<(CompactHistory, Format, bool, Speculation), HistoryError>> {
    if std::env::var("FAULTLINE_STREAM_CHECK").is_ok_and(|v| v == "0") || args.no_partition {
        return None;
    }
    let model = match args.model {
        None => SpecModel::Guess(guess_linear_model),
        Some(CheckModel::Linear(ModelKind::MultiRegister)) => return None,
        Some(CheckModel::Linear(kind)) => SpecModel::Given(kind),
        Some(_) => return None,
    };
    let guessed = match args.format {
        Some(Format::Jsonl) => false,
        Some(_) => return None,
        None if sniffs_jsonl(path) => true,
        None => return None,
    };
    let window = std::env::var("FAULTLINE_STREAM_WINDOW")
        .ok()
        .and_then(|v| v.parse().ok());
    let opts = StreamOptions {
        model,
        model_options: model_options.clone(),
        memory_limit: super::check::memory_limit(args),
        window,
        wait: std::env::var("FAULTLINE_STREAM_WAIT").is_ok_and(|v| v == "1"),
    };
    let name = path.display().to_string();
    let read = File::open(path)
        .map_err(|error| HistoryError::Io {
            file: name.clone(),
            error,
        })
        .and_then(|file| {
            let bytes = file.metadata().map_or(0, |m| m.len());
            let reader = BufReader::with_capacity(1 << 16, file);
            read_jsonl_speculating(reader, &name, bytes, &opts)
        });
    Some(read.map(|(h, s)| (h, Format::Jsonl, guessed, s)))
}

/// Whether the first significant line of `path` (no `;` comment before it) guesses as JSONL,
/// as `history::read_history_loaded` would guess it. Any doubt (a read error, no line in the
/// first bytes, comments) says no: the file is then read the usual way.
fn sniffs_jsonl(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    let mut head = Vec::with_capacity(4096);
    if file
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)
        .is_err()
    {
        return false;
    }
    let text = String::from_utf8_lossy(&head);
    let mut lines = text
        .lines()
        .map(|l| l.trim().trim_start_matches('\u{feff}'));
    let first = lines.find(|l| !l.is_empty());
    first.is_some_and(|l| !l.starts_with(';')) && guess(&head) == Some(Format::Jsonl)
}
