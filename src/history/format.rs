//! History formats by name, the format guesser, and the entry points the CLI calls.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Chain, Read};
use std::path::Path;
use std::str::FromStr;

use super::error::HistoryError;
use super::{compact, jepsen, jsonl, porcupine, CompactHistory, History};

/// A history file format, as named by `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// faultline's JSON Lines (DESIGN.md).
    Jsonl,
    /// Jepsen `history.edn`, Knossos and Elle files.
    Edn,
    /// Porcupine's Jepsen etcd logs (`INFO jepsen.util - ...`).
    PorcupineEtcd,
    /// Porcupine's kv logs (one EDN map per line with `:key "K"`, f get/put/append).
    PorcupineKv,
}

impl Format {
    /// Every format, in the order `--format` lists them.
    pub const ALL: [Format; 4] = [
        Format::Jsonl,
        Format::Edn,
        Format::PorcupineEtcd,
        Format::PorcupineKv,
    ];

    /// The `--format` name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown `--format` name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown history format {0:?}: expected jsonl, edn, porcupine-etcd or porcupine-kv")]
pub struct UnknownFormatName(pub String);

impl FromStr for Format {
    type Err = UnknownFormatName;

    fn from_str(s: &str) -> Result<Format, UnknownFormatName> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFormatName(s.to_string()))
    }
}

/// Guesses the format from the start of a file, looking at its first line that is neither
/// blank nor a `;` comment: `{"` is JSONL; `INFO ... jepsen.util` is a Porcupine etcd log; an
/// EDN map with `:process`, a string `:key` and f `:get`/`:put`/`:append` is a Porcupine kv
/// log; any other `{:`, `[`, `(` or `#` start is EDN. `None` when nothing matches (or there
/// is no such line).
pub fn guess(first_bytes: &[u8]) -> Option<Format> {
    let text = String::from_utf8_lossy(first_bytes);
    let line = text
        .lines()
        .map(|l| l.trim().trim_start_matches('\u{feff}'))
        .find(|l| !l.is_empty() && !l.starts_with(';'))?;
    if line.starts_with("INFO") && line.contains("jepsen.util") {
        return Some(Format::PorcupineEtcd);
    }
    if let Some(rest) = line.strip_prefix('{') {
        let rest = rest.trim_start();
        if rest.starts_with('"') {
            return Some(Format::Jsonl);
        }
        if rest.starts_with(':') {
            let kv_f = [":f :get", ":f :put", ":f :append"]
                .iter()
                .any(|f| line.contains(f));
            if line.contains(":process") && line.contains(":key \"") && kv_f {
                return Some(Format::PorcupineKv);
            }
            return Some(Format::Edn);
        }
        return None;
    }
    if line.starts_with(['[', '(', '#']) {
        return Some(Format::Edn);
    }
    None
}

/// How far [`read_history_from`] looks for the first significant line when guessing.
const GUESS_LIMIT: usize = 1 << 20;

/// Reads the history in the file at `path`, in `format` or, when `None`, in the guessed
/// format. Returns the history, the format used, and whether it was guessed (the CLI prints
/// the guess). Errors name the file (and line).
pub fn read_history(
    path: &Path,
    format: Option<Format>,
) -> Result<(History, Format, bool), HistoryError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|error| HistoryError::Io {
        file: name.clone(),
        error,
    })?;
    read_history_from(BufReader::with_capacity(1 << 16, file), &name, format)
}

/// Like [`read_history`], from any reader; `source` names it in errors.
///
/// An input with no events at all (empty, or only blank lines) is an empty history in every
/// format; when the format is to be guessed it is reported as JSONL.
pub fn read_history_from<R: BufRead>(
    reader: R,
    source: &str,
    format: Option<Format>,
) -> Result<(History, Format, bool), HistoryError> {
    read_from_with(reader, source, format, |r, s, f| read_as(r, s, f))
}

/// Like [`read_history`], but into a [`CompactHistory`], whatever the format (checking at
/// scale): each reader builds it directly, and its `to_history` equals what
/// [`read_history`] returns.
pub fn read_history_compact(
    path: &Path,
    format: Option<Format>,
) -> Result<(CompactHistory, Format, bool), HistoryError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|error| HistoryError::Io {
        file: name.clone(),
        error,
    })?;
    let bytes = file.metadata().map_or(0, |m| m.len());
    let reader = BufReader::with_capacity(1 << 16, file);
    read_from_with(
        reader,
        &name,
        format,
        |reader, source, format| match format {
            Format::Jsonl => compact::read_jsonl_compact_sized(reader, source, bytes),
            Format::Edn => jepsen::read_edn_compact(reader, source),
            Format::PorcupineEtcd => porcupine::read_etcd_compact(reader, source),
            Format::PorcupineKv => porcupine::read_kv_compact(reader, source),
        },
    )
}

/// Reads with `read_as` in `format`, or in the guessed format when `None` (see
/// [`read_history_from`]).
fn read_from_with<R: BufRead, T>(
    mut reader: R,
    source: &str,
    format: Option<Format>,
    read_as: impl for<'h> FnOnce(Chain<&'h [u8], R>, &str, Format) -> Result<T, HistoryError>,
) -> Result<(T, Format, bool), HistoryError> {
    if let Some(format) = format {
        let nothing: &[u8] = &[];
        return read_as(nothing.chain(reader), source, format).map(|h| (h, format, false));
    }
    // Read whole lines until one is significant, keep them, and replay them before the rest.
    let mut head = Vec::new();
    let mut comments = false;
    let guessed = loop {
        let start = head.len();
        let n = reader
            .read_until(b'\n', &mut head)
            .map_err(|error| HistoryError::Io {
                file: source.to_string(),
                error,
            })?;
        let line = head[start..].trim_ascii();
        let at_end = n == 0 || head.len() >= GUESS_LIMIT;
        if line.starts_with(b";") {
            comments = true;
        } else if !line.is_empty() {
            break guess(&head[start..]);
        }
        if at_end {
            break if comments {
                Some(Format::Edn)
            } else if head.trim_ascii().is_empty() {
                Some(Format::Jsonl)
            } else {
                None
            };
        }
    };
    let format = guessed.ok_or_else(|| HistoryError::UnknownFormat {
        file: source.to_string(),
    })?;
    let history = read_as(head.as_slice().chain(reader), source, format)?;
    Ok((history, format, true))
}

fn read_as<R: BufRead>(reader: R, source: &str, format: Format) -> Result<History, HistoryError> {
    match format {
        Format::Jsonl => jsonl::read_jsonl(reader, source),
        Format::Edn => jepsen::read_edn(reader, source),
        Format::PorcupineEtcd => porcupine::read_etcd(reader, source),
        Format::PorcupineKv => porcupine::read_kv(reader, source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>(), Ok(f));
        }
        let e = "yaml".parse::<Format>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown history format \"yaml\": expected jsonl, edn, porcupine-etcd or porcupine-kv"
        );
    }

    #[test]
    fn guesses_from_the_first_significant_line() {
        let g = |s: &str| guess(s.as_bytes());
        assert_eq!(g("{\"index\":0,\"process\":0}"), Some(Format::Jsonl));
        assert_eq!(g("\n  { \"process\":0}"), Some(Format::Jsonl));
        assert_eq!(
            g("INFO  jepsen.util - 0\t:invoke\t:read\tnil"),
            Some(Format::PorcupineEtcd)
        );
        assert_eq!(
            g("{:process 9, :type :invoke, :f :append, :key \"0\", :value \"x\"}"),
            Some(Format::PorcupineKv)
        );
        assert_eq!(
            g("{:process 9, :type :invoke, :f :write, :key \"0\", :value 1}"),
            Some(Format::Edn)
        );
        assert_eq!(g("; comment\n[{:process 1}"), Some(Format::Edn));
        assert_eq!(g("({:type :invoke"), Some(Format::Edn));
        assert_eq!(g("{:index 0 :type :invoke}"), Some(Format::Edn));
        assert_eq!(g("#jepsen.history.Op{:index 0}"), Some(Format::Edn));
        assert_eq!(g("hello"), None);
        assert_eq!(g(""), None);
        assert_eq!(g("; only a comment"), None);
    }

    #[test]
    fn reads_with_a_guess_or_a_given_format() {
        let text = "; c\n\n{:process 0 :type :invoke :f :read}\n";
        let (h, f, guessed) = read_history_from(text.as_bytes(), "x", None).unwrap();
        assert_eq!((f, guessed, h.ops.len()), (Format::Edn, true, 1));
        let (_, f, guessed) = read_history_from(text.as_bytes(), "x", Some(Format::Edn)).unwrap();
        assert_eq!((f, guessed), (Format::Edn, false));
        let e = read_history_from(&b"\nhello\n"[..], "x", None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x: cannot guess the history format"),
            "{e}"
        );
        let (h, f, _) = read_history_from(&b"\n\n"[..], "x", None).unwrap();
        assert_eq!((h, f), (History::default(), Format::Jsonl));
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let e = read_history(Path::new("/nonexistent/h.jsonl"), None).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/h.jsonl: "), "{e}");
        assert_eq!(e.line(), None);
    }
}
