//! `faultline serve [DIR]`: a small web app over the results store. `/` lists the stored runs,
//! newest first, coloured by verdict, linking each run's report and files; every other path
//! serves a file or lists a directory under DIR — and only under DIR: a path with a `..` or
//! `.` segment (raw or percent-encoded), an encoded `/` or `\`, a NUL, or one that leaves DIR
//! through a symlink is refused with 403. Listens on 127.0.0.1:8080 unless told otherwise.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use clap::Args;
use serde::de::IgnoredAny;

use super::Outcome;
use crate::checker::Validity;
use crate::report::escape::html;
use crate::rundir::{ResultsRecord, HISTORY_FILE, REPORT_FILE, RESULTS_FILE};

/// Arguments of `faultline serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The results directory to browse.
    #[arg(value_name = "DIR", default_value = "results")]
    pub dir: PathBuf,

    /// The address to listen on (keep it on loopback unless you mean to share the results).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

/// Runs `faultline serve` until Ctrl-C or SIGTERM; exit 3 when DIR or the address is unusable.
pub fn run(args: &ServeArgs) -> Outcome {
    match run_inner(args) {
        Ok(()) => Outcome::Valid,
        Err(e) => {
            eprintln!("faultline serve: {e:#}");
            Outcome::Error
        }
    }
}

fn run_inner(args: &ServeArgs) -> Result<()> {
    let root = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("the results directory {}", args.dir.display()))?;
    if !root.is_dir() {
        anyhow::bail!("{}: not a directory", args.dir.display());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        println!(
            "faultline serve: http://{addr}/ (serving {})",
            root.display()
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        serve(listener, root, shutdown_signal()).await
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

struct ServeState {
    /// The canonical results directory: every served path must canonicalize inside it.
    root: PathBuf,
}

/// Serves `root` (canonical) on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    root: PathBuf,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let state = Arc::new(ServeState { root });
    let app = Router::new()
        .route("/", get(index))
        .fallback(file)
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving")
}

/// Why a request path is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// It names something outside the results directory (or tries to).
    Outside,
    /// It names nothing.
    NotFound,
}

/// Checks a raw request path (still percent-encoded) and maps it to a path under `root`
/// (canonical). Pure: the caller canonicalizes and calls [`inside`] for symlinks.
pub fn relative_path(raw: &str) -> Result<PathBuf, Refusal> {
    let trimmed = raw.strip_prefix('/').unwrap_or(raw);
    let mut out = PathBuf::new();
    let segments: Vec<&str> = trimmed.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let decoded = percent_encoding::percent_decode_str(seg)
            .decode_utf8()
            .map_err(|_| Refusal::Outside)?;
        if decoded.is_empty() {
            // Only a trailing slash (a directory) may leave an empty segment; "//" could make
            // the rest absolute.
            if i + 1 == segments.len() {
                continue;
            }
            return Err(Refusal::Outside);
        }
        if decoded == ".." || decoded == "." || decoded.contains(['/', '\\', '\0']) {
            return Err(Refusal::Outside);
        }
        out.push(decoded.as_ref());
    }
    if out.is_absolute() {
        return Err(Refusal::Outside);
    }
    Ok(out)
}

/// Whether `path`, with every symlink resolved, is `root` or inside it.
pub fn inside(root: &Path, path: &Path) -> Result<PathBuf, Refusal> {
    let real = std::fs::canonicalize(path).map_err(|_| Refusal::NotFound)?;
    if real.starts_with(root) {
        Ok(real)
    } else {
        Err(Refusal::Outside)
    }
}

fn refuse(r: Refusal) -> Response {
    match r {
        Refusal::Outside => (
            StatusCode::FORBIDDEN,
            "403: that path is outside the results directory\n",
        )
            .into_response(),
        Refusal::NotFound => (StatusCode::NOT_FOUND, "404: no such file\n").into_response(),
    }
}

async fn index(State(state): State<Arc<ServeState>>) -> Response {
    let root = state.root.clone();
    match tokio::task::spawn_blocking(move || list_runs(&root)).await {
        Ok(runs) => html_response(index_html(&state.root, &runs)),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("listing runs: {e}\n"),
        )
            .into_response(),
    }
}

async fn file(State(state): State<Arc<ServeState>>, method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n").into_response();
    }
    let rel = match relative_path(uri.path()) {
        Ok(rel) => rel,
        Err(r) => return refuse(r),
    };
    let real = match inside(&state.root, &state.root.join(&rel)) {
        Ok(real) => real,
        Err(r) => return refuse(r),
    };
    if real.is_dir() {
        if !uri.path().ends_with('/') {
            let to = format!("{}/", uri.path());
            return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
        }
        let root = state.root.clone();
        let shown = rel.clone();
        return match tokio::task::spawn_blocking(move || dir_html(&root, &real, &shown)).await {
            Ok(Ok(page)) => html_response(page),
            Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        };
    }
    match tokio::fs::read(&real).await {
        Ok(bytes) => Response::builder()
            .header(header::CONTENT_TYPE, content_type(&real))
            .header("x-content-type-options", "nosniff")
            .body(Body::from(bytes))
            .unwrap_or_else(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()),
        Err(_) => refuse(Refusal::NotFound),
    }
}

fn html_response(page: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::HeaderName::from_static("x-content-type-options"),
                "nosniff",
            ),
        ],
        page,
    )
        .into_response()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "xml" => "application/xml",
        _ => "text/plain; charset=utf-8",
    }
}

/// One stored run, as the index lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEntry {
    /// Path relative to the results directory: `<test>/<timestamp>`.
    pub rel: String,
    /// The test's name.
    pub test: String,
    /// The run directory's timestamp name.
    pub stamp: String,
    /// The verdict, `None` when the run has no readable results.json (still running, killed,
    /// or written by a newer faultline).
    pub verdict: Option<Validity>,
    /// Whether report.html exists.
    pub has_report: bool,
}

/// Most runs the index lists.
const MAX_RUNS: usize = 2_000;

/// The runs under `root` (`<test>/<timestamp>/` holding a history or results), newest first.
pub fn list_runs(root: &Path) -> Vec<RunEntry> {
    let mut runs = Vec::new();
    let Ok(tests) = std::fs::read_dir(root) else {
        return runs;
    };
    for test in tests.flatten() {
        // `latest` is a symlink to a run; list real directories only.
        let Ok(kind) = test.file_type() else { continue };
        if !kind.is_dir() {
            continue;
        }
        let test_name = test.file_name().to_string_lossy().into_owned();
        let Ok(stamps) = std::fs::read_dir(test.path()) else {
            continue;
        };
        for stamp in stamps.flatten() {
            if !stamp.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let dir = stamp.path();
            if !dir.join(RESULTS_FILE).is_file() && !dir.join(HISTORY_FILE).is_file() {
                continue;
            }
            // The checkers' entries are skipped unread: only the verdict is listed.
            let verdict = ResultsRecord::<IgnoredAny>::read(&dir)
                .ok()
                .flatten()
                .map(|r| r.valid);
            let stamp_name = stamp.file_name().to_string_lossy().into_owned();
            runs.push(RunEntry {
                rel: format!("{test_name}/{stamp_name}"),
                test: test_name.clone(),
                stamp: stamp_name,
                verdict,
                has_report: dir.join(REPORT_FILE).is_file(),
            });
            if runs.len() >= MAX_RUNS * 4 {
                break;
            }
        }
    }
    // Timestamps are UTC `YYYYMMDDTHHMMSS.sssZ`: they sort as strings.
    runs.sort_by(|a, b| b.stamp.cmp(&a.stamp).then_with(|| a.test.cmp(&b.test)));
    runs.truncate(MAX_RUNS);
    runs
}

fn url_path(rel: &str) -> String {
    rel.split('/')
        .map(|s| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        })
        .collect::<Vec<_>>()
        .join("/")
}

const PAGE_CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:0 auto;padding:0 16px 30px}table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #eee}tr.v-valid td:first-child{border-left:6px solid #2e9d4f}tr.v-invalid td:first-child{border-left:6px solid #d6453d}tr.v-unknown td:first-child{border-left:6px solid #e0a030}tr.v-none td:first-child{border-left:6px solid #bbb}.v{font-weight:700}code{font:12px ui-monospace,monospace}";

/// The index page: every run, newest first, coloured by verdict.
pub fn index_html(root: &Path, runs: &[RunEntry]) -> String {
    let mut out = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>faultline runs</title><style>{PAGE_CSS}</style></head><body><h1>faultline runs</h1><p>{} runs in <code>{}</code>, newest first.</p><table><thead><tr><th>verdict</th><th>test</th><th>started (UTC)</th><th>report</th><th>files</th></tr></thead><tbody>",
        runs.len(),
        html(&root.display().to_string())
    );
    for r in runs {
        let (class, word) = match r.verdict {
            Some(Validity::Valid) => ("v-valid", "valid"),
            Some(Validity::Invalid) => ("v-invalid", "invalid"),
            Some(Validity::Unknown) => ("v-unknown", "unknown"),
            None => ("v-none", "no results"),
        };
        let base = url_path(&r.rel);
        let _ = write!(
            out,
            "<tr class=\"{class}\"><td class=\"v\">{word}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td><a href=\"/{base}/\">files</a></td></tr>",
            html(&r.test),
            html(&r.stamp),
            if r.has_report {
                format!("<a href=\"/{base}/{REPORT_FILE}\">report</a>")
            } else {
                "—".into()
            }
        );
    }
    out.push_str("</tbody></table></body></html>\n");
    out
}

/// A directory listing under the results directory.
fn dir_html(root: &Path, dir: &Path, rel: &Path) -> std::io::Result<String> {
    let mut names: Vec<(String, bool)> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| {
            let is_dir = e.path().is_dir();
            (e.file_name().to_string_lossy().into_owned(), is_dir)
        })
        .collect();
    names.sort();
    let mut out = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title><style>{PAGE_CSS}</style></head><body><p><a href=\"/\">all runs</a></p><h1><code>{0}/</code></h1><ul>",
        html(&rel.display().to_string())
    );
    if dir != root {
        out.push_str("<li><a href=\"../\">../</a></li>");
    }
    for (name, is_dir) in names {
        let slash = if is_dir { "/" } else { "" };
        let _ = write!(
            out,
            "<li><a href=\"{}{slash}\">{}{slash}</a></li>",
            html(&url_path(&name)),
            html(&name)
        );
    }
    out.push_str("</ul></body></html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn request_paths_with_dot_segments_or_encoded_separators_are_refused() {
        let refused = [
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc",
            "/a/%2e%2e/%2e%2e/x",
            "/./x",
            "//etc/passwd",
            "/a%2fb",
            "/a%5c..%5cb",
            "/a%00b",
            "/%ff",
        ];
        for (i, p) in refused.iter().enumerate() {
            assert_eq!(relative_path(p), Err(Refusal::Outside), "case {i}: {p}");
        }
        let allowed = [
            (
                "/t/20260101T000000.000Z/report.html",
                "t/20260101T000000.000Z/report.html",
            ),
            ("/t/", "t"),
            ("/a%20b.txt", "a b.txt"),
            ("/", ""),
        ];
        for (i, (p, want)) in allowed.iter().enumerate() {
            assert_eq!(relative_path(p), Ok(PathBuf::from(want)), "case {i}: {p}");
        }
    }

    #[test]
    fn symlinks_leaving_the_root_are_refused() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("results");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(outer.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outer.path().join("secret"), root.join("leak")).unwrap();
        std::fs::write(root.join("ok.txt"), "fine").unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        assert_eq!(inside(&root, &root.join("leak")), Err(Refusal::Outside));
        assert!(inside(&root, &root.join("ok.txt")).is_ok());
        assert_eq!(inside(&root, &root.join("nope")), Err(Refusal::NotFound));
    }

    fn raw_get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn the_server_lists_runs_serves_files_and_refuses_escapes() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("results");
        let run = root.join("raftkv-x").join("20260101T000000.000Z");
        std::fs::create_dir_all(&run).unwrap();
        // A hand-made results.json from before format versions: only the verdict.
        std::fs::write(run.join(RESULTS_FILE), r#"{"valid": false}"#).unwrap();
        std::fs::write(run.join(REPORT_FILE), "<p>report</p>").unwrap();
        std::fs::write(outer.path().join("secret.txt"), "top secret").unwrap();
        let root = std::fs::canonicalize(&root).unwrap();

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = rt.spawn(serve(listener, root, async {
            let _ = stop_rx.await;
        }));

        let index = raw_get(addr, "/");
        assert!(index.starts_with("HTTP/1.1 200"), "{index}");
        assert!(
            index.contains("v-invalid") && index.contains("raftkv-x"),
            "{index}"
        );
        let report = raw_get(addr, "/raftkv-x/20260101T000000.000Z/report.html");
        assert!(
            report.starts_with("HTTP/1.1 200") && report.contains("<p>report</p>"),
            "{report}"
        );
        for bad in [
            "/../secret.txt",
            "/raftkv-x/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/raftkv-x/%2E%2E/%2e%2e/secret.txt",
            "/%2e%2e%2fsecret.txt",
        ] {
            let resp = raw_get(addr, bad);
            assert!(
                resp.starts_with("HTTP/1.1 403") || resp.starts_with("HTTP/1.1 400"),
                "{bad}: {resp}"
            );
            assert!(!resp.contains("top secret"), "{bad} leaked the file");
        }
        let missing = raw_get(addr, "/nothing-here");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");

        let _ = stop_tx.send(());
        rt.block_on(server).unwrap().unwrap();
    }
}
