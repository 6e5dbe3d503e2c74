//! The run directory on disk: creating `results/<test>/<timestamp>/` (and pointing
//! `results/latest` at it), writing its records, and its `faultline.log`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use super::{ResultsRecord, TestRecord, LATEST_LINK, LOG_FILE, RESULTS_FILE, TEST_FILE};

/// One run's directory inside the results store.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The run directory itself: `<results>/<test>/<timestamp>`.
    pub path: PathBuf,
    /// The results root (`results/` by default).
    pub root: PathBuf,
}

impl RunDir {
    /// Creates `<root>/<test>/<timestamp>/` (a new, empty directory; a suffix is added if two
    /// runs start within the same millisecond) and points `<root>/latest` at it.
    pub fn create(root: &Path, test: &str) -> Result<RunDir> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
        let test_dir = root.join(sanitize(test));
        fs::create_dir_all(&test_dir)
            .with_context(|| format!("creating the results directory {}", test_dir.display()))?;
        let mut path = test_dir.join(&stamp);
        let mut n = 1;
        loop {
            match fs::create_dir(&path) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => {
                    n += 1;
                    path = test_dir.join(format!("{stamp}-{n}"));
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("creating the run directory {}", path.display()))
                }
            }
        }
        let run = RunDir {
            path,
            root: root.to_path_buf(),
        };
        run.point_latest()?;
        Ok(run)
    }

    /// A file inside the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `value` as pretty JSON to `name` inside the run directory.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        let path = self.file(name);
        let text = serde_json::to_string_pretty(value)
            .with_context(|| format!("serializing {}", path.display()))?;
        fs::write(&path, format!("{text}\n")).with_context(|| format!("writing {}", path.display()))
    }

    /// Writes `test.json`.
    pub fn write_test(&self, record: &TestRecord) -> Result<()> {
        self.write_json(TEST_FILE, record)
    }

    /// Writes `results.json`.
    pub fn write_results<C: Serialize>(&self, record: &ResultsRecord<C>) -> Result<()> {
        self.write_json(RESULTS_FILE, record)
    }

    /// Replaces `<root>/latest` with a relative symlink to this run.
    fn point_latest(&self) -> Result<()> {
        let latest = self.root.join(LATEST_LINK);
        let target = self
            .path
            .strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| self.path.clone());
        let tmp = self.root.join(".latest.tmp");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&target, &tmp)
            .with_context(|| format!("creating the symlink {}", tmp.display()))?;
        fs::rename(&tmp, &latest)
            .with_context(|| format!("pointing {} at {}", latest.display(), target.display()))
    }
}

/// [`LOG_FILE`] (`faultline.log`) in a run directory: what the runner did and when (cluster start, phases,
/// interruptions, teardown, verdicts), one timestamped line each, written through at once so
/// it survives a crash. Shared between the runner's tasks.
#[derive(Debug)]
pub struct RunLog {
    file: std::sync::Mutex<fs::File>,
}

impl RunLog {
    /// Creates (truncates) [`LOG_FILE`] in `run`.
    pub fn create(run: &RunDir) -> Result<RunLog> {
        let path = run.file(LOG_FILE);
        let file =
            fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(RunLog {
            file: std::sync::Mutex::new(file),
        })
    }

    /// Appends one line, stamped with the wall-clock time. Logging never fails the run.
    pub fn line(&self, message: impl std::fmt::Display) {
        use std::io::Write;
        let stamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let mut file = match self.file.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        let _ = writeln!(file, "{stamp} {message}");
    }
}

/// A test name as a single safe path component.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('.').to_string();
    if s.is_empty() {
        "test".to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_get_their_own_directories_and_latest_follows() {
        let root = tempfile::tempdir().unwrap();
        let a = RunDir::create(root.path(), "raftkv cas/register").unwrap();
        let b = RunDir::create(root.path(), "raftkv cas/register").unwrap();
        assert_ne!(a.path, b.path);
        assert!(a.path.starts_with(root.path().join("raftkv-cas-register")));
        let latest = fs::canonicalize(root.path().join(LATEST_LINK)).unwrap();
        assert_eq!(latest, fs::canonicalize(&b.path).unwrap());
        a.write_json("extra.json", &serde_json::json!({"seed": 7}))
            .unwrap();
        let back: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(a.file("extra.json")).unwrap()).unwrap();
        assert_eq!(back["seed"], 7);
    }

    #[test]
    fn the_run_log_appends_stamped_lines() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "t").unwrap();
        let log = RunLog::create(&run).unwrap();
        log.line("cluster started");
        log.line(format_args!("verdict {}", "valid"));
        let text = fs::read_to_string(run.file(LOG_FILE)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with(" cluster started"), "{text}");
        assert!(lines[1].ends_with(" verdict valid"), "{text}");
        assert!(lines[0].starts_with("20"), "{text}");
    }

    #[test]
    fn names_cannot_escape_the_results_directory() {
        assert_eq!(sanitize("../../etc"), "-..-etc");
        assert_eq!(sanitize(".."), "test");
        assert_eq!(sanitize(""), "test");
    }
}
