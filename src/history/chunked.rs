//! Reading JSONL in parallel: the input is cut into big chunks at line ends, worker threads
//! parse the lines of a chunk, and the calling thread pairs the parsed events in file order.
//!
//! The result is exactly what the line-at-a-time reader gives, errors included: events reach
//! the [`Pairer`] in file order, a chunk's parse stops at its first bad line, and an I/O error
//! is queued behind the chunks read before it, so the first bad line of the file (or the read
//! that failed) is the one reported. Memory stays proportional to the ops: at most
//! `workers + 2` chunks are read ahead.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex, PoisonError};
use std::thread;

use super::error::{HistoryError, Reason};
use super::jsonl::{line_text, parse_event};
use super::pair::{Pairer, RawEvent};
use super::History;

/// What the lines of one chunk parse into, for one in-memory representation: the `History`
/// of `Value`s ([`JsonEvents`]) or the compact history (`compact::read`).
pub(crate) trait ChunkFormat: Sync {
    /// One chunk's parsed lines.
    type Events: Send;
    /// An empty result for a chunk of `bytes` bytes.
    fn events(&self, bytes: usize) -> Self::Events;
    /// Parses one non-blank line, number `number` of its chunk (1-based), into `events`.
    fn parse_line(&self, events: &mut Self::Events, text: &[u8], number: u64)
        -> Result<(), Reason>;
}

/// Where parsed chunks go, in file order.
pub(crate) trait ChunkSink<E> {
    /// Takes one chunk's events; `base` is the number of lines before the chunk. On a bad
    /// event, returns its absolute line and why.
    fn feed(&mut self, events: E, base: u64) -> Result<(), (u64, Reason)>;
}

/// The `Value` representation: events to pair into a [`History`].
pub(crate) struct JsonEvents;

impl ChunkFormat for JsonEvents {
    type Events = Vec<(RawEvent<'static>, u64)>;
    fn events(&self, bytes: usize) -> Self::Events {
        Vec::with_capacity(bytes / 64)
    }
    fn parse_line(
        &self,
        events: &mut Self::Events,
        text: &[u8],
        number: u64,
    ) -> Result<(), Reason> {
        events.push((parse_event(text)?.into_owned(), number));
        Ok(())
    }
}

impl ChunkSink<Vec<(RawEvent<'static>, u64)>> for Pairer {
    fn feed(
        &mut self,
        events: Vec<(RawEvent<'static>, u64)>,
        base: u64,
    ) -> Result<(), (u64, Reason)> {
        for (event, rel) in events {
            let line = base + rel;
            self.push(event, line).map_err(|reason| (line, reason))?;
        }
        Ok(())
    }
}

/// How the input is cut and parsed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkPlan {
    /// Bytes read per chunk; it is then cut after its last line end (a longer line makes
    /// the chunk read on until the line ends).
    pub chunk_bytes: usize,
    /// Parsing threads; 0 parses on the calling thread.
    pub workers: usize,
    /// An input no bigger than this (read whole into the first chunk) is parsed on the
    /// calling thread: starting threads would cost more than they save.
    pub inline_below: usize,
}

impl ChunkPlan {
    /// 4 MiB chunks, one worker per available core (at most 8).
    pub fn for_this_machine() -> Self {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        ChunkPlan {
            chunk_bytes: 4 << 20,
            workers: cores.clamp(1, 8),
            inline_below: 256 << 10,
        }
    }
}

/// One chunk's parse: its events with their line numbers relative to the chunk (1-based),
/// the first bad line if any (parsing stops there), and how many line ends it holds.
#[derive(Debug)]
struct Parsed<E> {
    events: E,
    error: Option<(u64, Reason)>,
    newlines: u64,
}

/// Parses every line of `bytes` (whole lines; the last may lack its `\n` only at the end of
/// the input). `first` says the chunk starts the input, where a BOM may open line 1. Stops
/// early, with no error, when `cancel` is set (the result is then not used).
fn parse_chunk<F: ChunkFormat>(
    format: &F,
    bytes: &[u8],
    first: bool,
    cancel: &AtomicBool,
) -> Parsed<F::Events> {
    let mut events = format.events(bytes.len());
    let mut error = None;
    let mut newlines = 0u64;
    let mut rest = bytes;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        let had_newline = next.len() < rest.len() - line.len();
        rest = next;
        let number = newlines + 1;
        if had_newline {
            newlines += 1;
        }
        let text = line_text(line, first && number == 1);
        if text.is_empty() {
            continue;
        }
        match format.parse_line(&mut events, text, number) {
            Ok(()) => {}
            Err(reason) => {
                error = Some((number, reason));
                break;
            }
        }
        if number.is_multiple_of(4096) && cancel.load(Ordering::Relaxed) {
            break;
        }
    }
    if error.is_some() {
        // The lines after the error are never looked at; count them anyway so the count is
        // the chunk's, whatever happened.
        newlines += rest.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    Parsed {
        events,
        error,
        newlines,
    }
}

/// Reads the next chunk into `buf` (emptied first): `carry` (the partial line the previous
/// chunk ended with) then at least `size` bytes more if the input has them, cut after the
/// last line end; the partial line after it goes back to `carry`. A line longer than a chunk
/// makes the chunk longer. Returns whether the input is exhausted.
///
/// On a read error, `buf` holds the whole lines read before it (the partial line is dropped,
/// as the line reader drops it) and the error is returned.
fn fill_chunk<R: Read>(
    reader: &mut R,
    carry: &mut Vec<u8>,
    buf: &mut Vec<u8>,
    size: usize,
) -> Result<bool, io::Error> {
    buf.clear();
    buf.append(carry);
    let mut want = size.max(1);
    loop {
        let before = buf.len();
        let target = before + want;
        let read = reader.by_ref().take(want as u64).read_to_end(buf);
        if let Err(e) = read {
            let keep = buf.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
            buf.truncate(keep);
            return Err(e);
        }
        if buf.len() < target {
            return Ok(true);
        }
        if let Some(at) = buf[before..].iter().rposition(|&b| b == b'\n') {
            let cut = before + at + 1;
            carry.extend_from_slice(&buf[cut..]);
            buf.truncate(cut);
            return Ok(false);
        }
        // No line end in what was just read: the line goes on; read as much again.
        want = want.saturating_mul(2);
    }
}

/// What the pairing thread waits for next, in file order.
enum Pending<E> {
    /// A chunk being parsed; its result arrives on this channel.
    Chunk(mpsc::Receiver<Parsed<E>>),
    /// A chunk parsed on the pairing thread (small inputs).
    Done(Parsed<E>),
    /// The read after the previous chunk failed.
    Io(io::Error),
}

/// A chunk for a worker, with the channel its result goes back on.
struct Job<E> {
    bytes: Vec<u8>,
    first: bool,
    reply: mpsc::SyncSender<Parsed<E>>,
}

/// Feeds parsed events to the pairer, in order, turning line numbers absolute.
struct Feeder<'s, S> {
    sink: S,
    /// Lines before the current chunk.
    base: u64,
    source: &'s str,
}

impl<S> Feeder<'_, S> {
    fn invalid(&self, line: u64, reason: Reason) -> HistoryError {
        HistoryError::Invalid {
            file: self.source.to_string(),
            line,
            reason,
        }
    }

    fn feed<E>(&mut self, parsed: Parsed<E>) -> Result<(), HistoryError>
    where
        S: ChunkSink<E>,
    {
        self.sink
            .feed(parsed.events, self.base)
            .map_err(|(line, reason)| self.invalid(line, reason))?;
        if let Some((rel, reason)) = parsed.error {
            return Err(self.invalid(self.base + rel, reason));
        }
        self.base += parsed.newlines;
        Ok(())
    }
}

/// Reads a JSONL history from `reader` as `plan` says; `source` names it in errors.
pub(crate) fn read_chunked<R: Read>(
    reader: R,
    source: &str,
    plan: ChunkPlan,
) -> Result<History, HistoryError> {
    read_chunked_with(reader, source, plan, &JsonEvents, Pairer::new()).map(Pairer::finish)
}

/// Reads JSONL from `reader` as `plan` says, lines parsed by `format` and fed to `sink` in
/// file order; returns the sink. `source` names the input in errors.
pub(crate) fn read_chunked_with<R, F, S>(
    mut reader: R,
    source: &str,
    plan: ChunkPlan,
    format: &F,
    sink: S,
) -> Result<S, HistoryError>
where
    R: Read,
    F: ChunkFormat,
    S: ChunkSink<F::Events>,
{
    let io_error = |error| HistoryError::Io {
        file: source.to_string(),
        error,
    };
    let mut feeder = Feeder {
        sink,
        base: 0,
        source,
    };
    let mut carry = Vec::new();
    let mut first = Vec::new();
    let read = fill_chunk(&mut reader, &mut carry, &mut first, plan.chunk_bytes);
    let small = matches!(read, Ok(true)) && first.len() <= plan.inline_below;
    let eof = match read {
        Ok(eof) if plan.workers > 0 && !small => eof,
        read => return read_here(reader, feeder, first, read, carry, plan, format),
    };
    let cancel = AtomicBool::new(false);
    let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job<F::Events>>(plan.workers);
    let jobs_rx = Mutex::new(jobs_rx);
    thread::scope(|scope| {
        for _ in 0..plan.workers {
            scope.spawn(|| worker(format, &jobs_rx, &cancel));
        }
        let result = pair_in_order(
            &mut reader,
            &mut feeder,
            (first, eof),
            &mut carry,
            &jobs_tx,
            plan,
            format,
            &cancel,
        );
        if result.is_err() {
            cancel.store(true, Ordering::Relaxed);
        }
        // Closing the queue lets the workers end.
        drop(jobs_tx);
        result
    })
    .map_err(|e| match e {
        Stop::Content(e) => e,
        Stop::Io(e) => io_error(e),
    })?;
    Ok(feeder.sink)
}

/// Parses chunk after chunk on the calling thread; `read` is how reading `chunk` ended.
fn read_here<R, F, S>(
    mut reader: R,
    mut feeder: Feeder<'_, S>,
    mut chunk: Vec<u8>,
    mut read: Result<bool, io::Error>,
    mut carry: Vec<u8>,
    plan: ChunkPlan,
    format: &F,
) -> Result<S, HistoryError>
where
    R: Read,
    F: ChunkFormat,
    S: ChunkSink<F::Events>,
{
    let no_cancel = AtomicBool::new(false);
    let mut first = true;
    loop {
        // Whole lines read before a failed read count first, as in the line reader.
        feeder.feed(parse_chunk(format, &chunk, first, &no_cancel))?;
        match read {
            Ok(true) => return Ok(feeder.sink),
            Ok(false) => {}
            Err(error) => {
                return Err(HistoryError::Io {
                    file: feeder.source.to_string(),
                    error,
                })
            }
        }
        first = false;
        read = fill_chunk(&mut reader, &mut carry, &mut chunk, plan.chunk_bytes);
    }
}

/// Why pairing stopped early.
enum Stop {
    Content(HistoryError),
    Io(io::Error),
}

/// The pairing thread's loop: keeps up to `workers + 2` chunks in flight, and feeds each
/// chunk's events to the pairer when its turn comes.
#[allow(clippy::too_many_arguments)]
fn pair_in_order<R, F, S>(
    reader: &mut R,
    feeder: &mut Feeder<'_, S>,
    (first, mut eof): (Vec<u8>, bool),
    carry: &mut Vec<u8>,
    jobs: &mpsc::SyncSender<Job<F::Events>>,
    plan: ChunkPlan,
    format: &F,
    cancel: &AtomicBool,
) -> Result<(), Stop>
where
    R: Read,
    F: ChunkFormat,
    S: ChunkSink<F::Events>,
{
    let in_flight_max = plan.workers + 2;
    let mut pending: VecDeque<Pending<F::Events>> = VecDeque::with_capacity(in_flight_max + 1);
    let mut next = Some((first, true));
    let mut read_failed = false;
    loop {
        while pending.len() < in_flight_max {
            let Some((bytes, first)) = next.take() else {
                break;
            };
            let (reply, result) = mpsc::sync_channel(1);
            let job = Job {
                bytes,
                first,
                reply,
            };
            match jobs.send(job) {
                Ok(()) => pending.push_back(Pending::Chunk(result)),
                // Every worker is gone, which only a worker panic can cause (the scope
                // re-raises it): parse here instead.
                Err(mpsc::SendError(job)) => {
                    pending.push_back(Pending::Done(parse_chunk(
                        format, &job.bytes, job.first, cancel,
                    )));
                }
            }
            if !eof && !read_failed {
                let mut buf = Vec::with_capacity(plan.chunk_bytes + (64 << 10));
                match fill_chunk(reader, carry, &mut buf, plan.chunk_bytes) {
                    Ok(end) => {
                        eof = end;
                        next = Some((buf, false));
                    }
                    Err(e) => {
                        read_failed = true;
                        if !buf.is_empty() {
                            let parsed = parse_chunk(format, &buf, false, cancel);
                            pending.push_back(Pending::Done(parsed));
                        }
                        pending.push_back(Pending::Io(e));
                    }
                }
            }
        }
        let Some(item) = pending.pop_front() else {
            return Ok(());
        };
        let parsed = match item {
            Pending::Chunk(result) => match result.recv() {
                Ok(parsed) => parsed,
                // The worker died with the chunk (a panic, re-raised by the scope).
                Err(mpsc::RecvError) => {
                    return Err(Stop::Io(io::Error::other("a JSONL parsing thread failed")))
                }
            },
            Pending::Done(parsed) => parsed,
            Pending::Io(e) => return Err(Stop::Io(e)),
        };
        feeder.feed(parsed).map_err(Stop::Content)?;
    }
}

/// A parsing thread: takes chunks from the queue until it closes.
fn worker<F: ChunkFormat>(
    format: &F,
    jobs: &Mutex<mpsc::Receiver<Job<F::Events>>>,
    cancel: &AtomicBool,
) {
    loop {
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        let parsed = parse_chunk(format, &job.bytes, job.first, cancel);
        drop(job.bytes);
        // The pairing thread may have stopped waiting (an earlier error): nothing to do.
        let _ = job.reply.send(parsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::jsonl::read_jsonl_lines;
    use proptest::prelude::*;

    /// The line reader's result, errors as their messages.
    fn by_lines(bytes: &[u8]) -> Result<History, String> {
        read_jsonl_lines(bytes, "h.jsonl").map_err(|e| e.to_string())
    }

    fn chunked(bytes: &[u8], chunk_bytes: usize, workers: usize) -> Result<History, String> {
        let plan = ChunkPlan {
            chunk_bytes,
            workers,
            inline_below: 0,
        };
        read_chunked(bytes, "h.jsonl", plan).map_err(|e| e.to_string())
    }

    /// Every small chunk size with 0 to 3 workers gives the line reader's result.
    fn assert_same(bytes: &[u8]) {
        let want = by_lines(bytes);
        for chunk_bytes in (1..=bytes.len().min(40) + 1).chain([64, 4096]) {
            for workers in 0..=3 {
                assert_eq!(
                    chunked(bytes, chunk_bytes, workers),
                    want,
                    "chunk {chunk_bytes}, {workers} workers, input {:?}",
                    String::from_utf8_lossy(bytes)
                );
            }
        }
    }

    const LINES: [&str; 6] = [
        r#"{"process":0,"type":"invoke","f":"write","value":1}"#,
        r#"{"process":1,"type":"invoke","f":"read"}"#,
        r#"{"process":0,"type":"ok","f":"write","value":1}"#,
        r#"{"process":"nemesis","type":"info","f":"kill","value":["n1"]}"#,
        r#"{"process":1,"type":"ok","f":"read","value":1,"node":"n\u0031"}"#,
        r#"{"process":2,"type":"invoke","f":"cas","key":"x","value":[1,2]}"#,
    ];

    #[test]
    fn cuts_chunks_at_line_ends_and_keeps_long_lines_whole() {
        let no = AtomicBool::new(false);
        let text = b"aaaa\nbb\ncccccccccc\nd";
        let mut carry = Vec::new();
        let mut buf = Vec::new();
        let mut chunks = Vec::new();
        let mut reader = &text[..];
        loop {
            let eof = fill_chunk(&mut reader, &mut carry, &mut buf, 3).unwrap();
            chunks.push(String::from_utf8(buf.clone()).unwrap());
            if eof {
                break;
            }
        }
        // "aaa" has no line end, so 6 more bytes are read, and the chunk is cut after the last
        // line end in them; the 10-c line makes its chunk read on to the end.
        assert_eq!(chunks, ["aaaa\nbb\n", "cccccccccc\nd"]);
        assert!(carry.is_empty());
        assert_eq!(parse_chunk(&JsonEvents, b"\n\n", false, &no).newlines, 2);
        assert_eq!(parse_chunk(&JsonEvents, b"\n\nx", false, &no).newlines, 2);
    }

    #[test]
    fn same_history_as_the_line_reader_at_every_chunk_size() {
        let text = LINES.join("\n");
        assert_same(text.as_bytes());
        assert_same(format!("{text}\n").as_bytes());
        // CRLF line ends, blank lines, whitespace-only lines.
        assert_same(LINES.join("\r\n\r\n  \t\r\n").as_bytes());
        // A BOM opens line 1 only; elsewhere it is bad JSON.
        assert_same(format!("\u{feff}{text}").as_bytes());
        assert_same(format!("\n\u{feff}{text}").as_bytes());
        assert_same(format!("  \u{feff}{text}\r\n").as_bytes());
        // Nothing, or only blank lines.
        assert_same(b"");
        assert_same(b"\n\r\n   \n");
    }

    #[test]
    fn the_first_bad_line_wins_wherever_it_is() {
        let bad = [
            "{\"process\":",
            r#"{"process":5,"type":"ok","f":"read"}"#,
            r#"{"process":0,"type":"invoke","f":"read"}"#,
            r#"{"index":0,"process":7,"type":"invoke","f":"read"}"#,
            "\u{feff}{}",
            "[1]",
        ];
        for b in bad {
            for at in 0..=LINES.len() {
                let mut lines: Vec<&str> = LINES.to_vec();
                lines.insert(at, b);
                // A second bad line later must never be the one reported.
                lines.push("nonsense");
                let text = lines.join("\n");
                let want = by_lines(text.as_bytes());
                assert!(want.is_err());
                assert_same(text.as_bytes());
            }
        }
    }

    /// Yields `data` a few bytes at a time, then fails.
    struct FailsAfter<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for FailsAfter<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.data.is_empty() {
                return Err(io::Error::other("disk on fire"));
            }
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_failed_read_is_reported_after_the_lines_before_it() {
        let good = LINES.join("\n");
        let bad = format!(
            "{}\n{{\"process\":5,\"type\":\"ok\",\"f\":\"read\"}}\n",
            LINES[0]
        );
        for text in [good.as_str(), bad.as_str()] {
            for cut in 0..=text.len() {
                let data = &text.as_bytes()[..cut];
                let lines =
                    read_jsonl_lines(io::BufReader::new(FailsAfter { data, step: 7 }), "h.jsonl")
                        .map_err(|e| e.to_string());
                assert!(lines.is_err());
                for (chunk_bytes, workers) in [(5, 0), (5, 2), (16, 1), (1 << 20, 2)] {
                    let plan = ChunkPlan {
                        chunk_bytes,
                        workers,
                        inline_below: 0,
                    };
                    let got = read_chunked(FailsAfter { data, step: 7 }, "h.jsonl", plan)
                        .map_err(|e| e.to_string());
                    assert_eq!(got, lines, "cut at {cut}, chunk {chunk_bytes}");
                }
            }
        }
    }

    #[test]
    fn a_small_input_is_read_on_the_calling_thread_with_the_same_result() {
        let text = LINES.join("\n");
        let plan = ChunkPlan::for_this_machine();
        let got = read_chunked(text.as_bytes(), "h.jsonl", plan).map_err(|e| e.to_string());
        assert_eq!(got, by_lines(text.as_bytes()));
    }

    /// A line for the property test: mostly valid events of a few processes, some blank or
    /// CRLF-ended, some bad.
    fn line() -> impl Strategy<Value = String> {
        let event =
            (0u8..4, 0u8..5, 0u8..3, any::<bool>(), 0u32..1000).prop_map(|(p, kind, f, key, v)| {
                let kind = ["invoke", "invoke", "ok", "fail", "info"][kind as usize];
                let f = ["read", "write", "cas"][f as usize];
                let key = if key { r#","key":"k""# } else { "" };
                format!(r#"{{"process":{p},"type":"{kind}","f":"{f}"{key},"value":{v}}}"#)
            });
        prop_oneof![
            20 => event,
            2 => Just(String::new()),
            1 => Just("  \r".to_string()),
            1 => Just(r#"{"process":"nemesis","type":"info","f":"kill"}"#.to_string()),
            1 => Just("{\"process\":1,".to_string()),
            1 => Just(r#"{"index":3,"process":9,"type":"invoke","f":"read"}"#.to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn parallel_reading_equals_line_reading(
            lines in prop::collection::vec(line(), 0..60),
            crlf in any::<bool>(),
            bom in any::<bool>(),
            final_newline in any::<bool>(),
            chunk_bytes in 1usize..300,
            workers in 0usize..4,
        ) {
            let mut text = lines.join(if crlf { "\r\n" } else { "\n" });
            if bom {
                text.insert(0, '\u{feff}');
            }
            if final_newline {
                text.push('\n');
            }
            let want = by_lines(text.as_bytes());
            prop_assert_eq!(chunked(text.as_bytes(), chunk_bytes, workers), want);
        }
    }
}
