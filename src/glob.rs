//! Path globs for the data files a file fault may damage (`wal.log`, `member/wal/*.wal`,
//! `**/*.sst`): `*` and `?` match within one path segment, `**` matches any number of
//! segments. Matching is pure; [`find`] walks a directory (bounded) and returns the matches.

use std::path::{Path, PathBuf};

/// The most directory entries [`find`] looks at, so a huge data dir cannot stall a fault.
const MAX_ENTRIES: usize = 100_000;

/// Whether `path` (relative, `/`-separated) matches `pattern`.
pub fn matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match_segments(&pat, &segs)
}

fn match_segments(pat: &[&str], segs: &[&str]) -> bool {
    match pat.split_first() {
        None => segs.is_empty(),
        Some((&"**", rest)) => (0..=segs.len()).any(|k| match_segments(rest, &segs[k..])),
        Some((p, rest)) => match segs.split_first() {
            Some((s, more)) => {
                match_segment(p.as_bytes(), s.as_bytes()) && match_segments(rest, more)
            }
            None => false,
        },
    }
}

fn match_segment(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|k| match_segment(rest, &s[k..])),
        Some((b'?', rest)) => !s.is_empty() && match_segment(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && match_segment(rest, &s[1..]),
    }
}

/// A glob is well-formed: relative, no `..`, not empty.
pub fn check(pattern: &str) -> Result<(), String> {
    if pattern.trim().is_empty() {
        return Err("an empty glob".into());
    }
    if pattern.starts_with('/') {
        return Err(format!("{pattern:?} must be relative to the data dir"));
    }
    if pattern.split('/').any(|s| s == "..") {
        return Err(format!("{pattern:?} must not leave the data dir (..)"));
    }
    Ok(())
}

/// The regular files under `dir` whose path relative to it matches one of `patterns`,
/// sorted. A missing `dir` has none.
pub fn find(dir: &Path, patterns: &[String]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            seen += 1;
            if seen > MAX_ENTRIES {
                break;
            }
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let rel = path
                    .strip_prefix(dir)
                    .map(|p| p.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default();
                if patterns.iter().any(|p| matches(p, &rel)) {
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_stay_in_a_segment_and_double_stars_cross_them() {
        let cases = [
            ("wal.log", "wal.log", true),
            ("wal.log", "x/wal.log", false),
            ("*.wal", "0001.wal", true),
            ("*.wal", "a/0001.wal", false),
            ("member/wal/*.wal", "member/wal/0-1.wal", true),
            ("member/*/*.wal", "member/wal/0-1.wal", true),
            ("**/*.sst", "a/b/c.sst", true),
            ("**/*.sst", "c.sst", true),
            ("**", "anything/at/all", true),
            ("snap?.bin", "snap1.bin", true),
            ("snap?.bin", "snap.bin", false),
            ("data/**/x", "data/x", true),
        ];
        for (p, s, want) in cases {
            assert_eq!(matches(p, s), want, "{p} vs {s}");
        }
    }

    #[test]
    fn find_walks_the_directory_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("member/wal")).unwrap();
        for f in [
            "member/wal/2.wal",
            "member/wal/1.wal",
            "member/x.txt",
            "top.wal",
        ] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let got = find(dir.path(), &["member/wal/*.wal".into(), "*.wal".into()]).unwrap();
        let rel: Vec<String> = got
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(rel, ["member/wal/1.wal", "member/wal/2.wal", "top.wal"]);
        assert!(find(&dir.path().join("nope"), &["*".into()])
            .unwrap()
            .is_empty());
        assert!(check("/abs").is_err() && check("../x").is_err() && check("a/*.b").is_ok());
    }
}
