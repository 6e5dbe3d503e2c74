//! The interpreter: pulls ops from the generator, hands each to its worker (one client per
//! worker thread) or to the nemesis task, stamps invoke and completion with the monotonic
//! clock, records both in the history, and tells the generator. It is Jepsen's interpreter:
//! one coordinator owns the generator; workers only run ops.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::recorder::Recorder;
use crate::client::{Client, Completion, Invocation};
use crate::generator::{Driver, GenOp, Next, Thread};
use crate::history::{Event, EventType, Outcome, Process};

/// Applies nemesis ops; the runner's adapter over the cluster's fault backend.
#[async_trait::async_trait]
pub trait FaultRunner: Send {
    /// Applies (or heals) the fault `op` names; returns what was done, recorded in the history.
    async fn run(&mut self, op: &GenOp) -> Result<Value, String>;
}

/// How long the interpreter waits for outstanding ops after it was told to stop, before it
/// leaves them without a completion (they are then `info`: unknown, which is sound).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest the coordinator sleeps without looking at the generator again.
const MAX_IDLE: Duration = Duration::from_millis(50);

/// An op finished by a worker or the nemesis task, stamped when it finished.
struct Finished {
    op: GenOp,
    outcome: Outcome,
    value: Value,
    error: Option<Value>,
    node: Option<String>,
    at: Instant,
}

/// What the interpreter did: whether it was stopped early, and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSummary {
    /// It was cancelled (Ctrl-C/SIGTERM) before the generator was done.
    pub interrupted: bool,
    /// Ops still outstanding when it gave up waiting (left without completion: `info`).
    pub abandoned: usize,
}

/// The running workers and the nemesis task.
pub struct Interpreter {
    started: Instant,
    workers: Vec<mpsc::UnboundedSender<GenOp>>,
    nemesis: Option<mpsc::UnboundedSender<GenOp>>,
    finished_rx: mpsc::UnboundedReceiver<Finished>,
    tasks: Vec<JoinHandle<()>>,
}

impl Interpreter {
    /// Starts one worker task per client (thread i runs `clients[i]`) and, when given, the
    /// nemesis task. `started` is the test's time origin.
    pub fn start(
        started: Instant,
        clients: Vec<Box<dyn Client>>,
        nemesis: Option<Box<dyn FaultRunner>>,
    ) -> Interpreter {
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let mut workers = Vec::with_capacity(clients.len());
        let mut tasks = Vec::with_capacity(clients.len() + 1);
        for mut client in clients {
            let (tx, mut rx) = mpsc::unbounded_channel::<GenOp>();
            let done = finished_tx.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(op) = rx.recv().await {
                    let inv = Invocation {
                        f: op.f.clone(),
                        key: op.key.clone(),
                        value: op.value.clone(),
                    };
                    let Completion {
                        outcome,
                        value,
                        error,
                        node,
                    } = client.invoke(&inv).await;
                    let at = Instant::now();
                    let finished = Finished {
                        op,
                        outcome,
                        value,
                        error: error.map(Value::String),
                        node,
                        at,
                    };
                    if done.send(finished).is_err() {
                        break;
                    }
                }
                client.close().await;
            }));
            workers.push(tx);
        }
        let nemesis = nemesis.map(|mut runner| {
            let (tx, mut rx) = mpsc::unbounded_channel::<GenOp>();
            let done = finished_tx.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(op) = rx.recv().await {
                    let (value, error) = match runner.run(&op).await {
                        Ok(v) => (v, None),
                        Err(e) => (Value::Null, Some(Value::String(e))),
                    };
                    let finished = Finished {
                        op,
                        outcome: Outcome::Info,
                        value,
                        error,
                        node: None,
                        at: Instant::now(),
                    };
                    if done.send(finished).is_err() {
                        break;
                    }
                }
            }));
            tx
        });
        Interpreter {
            started,
            workers,
            nemesis,
            finished_rx,
            tasks,
        }
    }

    fn nanos_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Runs `driver` to completion (or until `cancel` turns true), recording every event.
    /// `on_tick` is called about every 50 ms and after each completion, for progress output.
    pub async fn run(
        &mut self,
        driver: &mut Driver,
        recorder: &mut Recorder,
        mut cancel: watch::Receiver<bool>,
        mut on_tick: impl FnMut(&Recorder, u64),
    ) -> Result<RunSummary> {
        let mut outstanding = 0usize;
        let mut done = false;
        let mut interrupted = false;
        let mut drain_deadline: Option<Instant> = None;
        loop {
            if !interrupted && *cancel.borrow() {
                interrupted = true;
            }
            if !done && !interrupted {
                let now = self.nanos_at(Instant::now());
                match driver.next(now) {
                    Next::Op(op) => {
                        self.dispatch(op, driver, recorder)?;
                        outstanding += 1;
                        continue;
                    }
                    Next::Pending => {}
                    Next::Done => done = true,
                }
            }
            if (done || interrupted) && outstanding == 0 {
                break;
            }
            if interrupted {
                let deadline =
                    *drain_deadline.get_or_insert_with(|| Instant::now() + DRAIN_TIMEOUT);
                if Instant::now() >= deadline {
                    recorder.flush()?;
                    return Ok(RunSummary {
                        interrupted,
                        abandoned: outstanding,
                    });
                }
            }
            // Sleep until the generator wants to be asked again, an op completes, or we are
            // told to stop; never longer than MAX_IDLE.
            let mut sleep_for = MAX_IDLE;
            if !done && !interrupted {
                if let Some(wake) = driver.wakeup() {
                    let now = self.nanos_at(Instant::now());
                    sleep_for = sleep_for.min(Duration::from_nanos(wake.saturating_sub(now)));
                }
            }
            tokio::select! {
                finished = self.finished_rx.recv() => {
                    let finished = finished.ok_or_else(|| anyhow!("every worker stopped"))?;
                    self.complete(finished, driver, recorder)?;
                    outstanding -= 1;
                    // Take every other completion that is already waiting.
                    while let Ok(finished) = self.finished_rx.try_recv() {
                        self.complete(finished, driver, recorder)?;
                        outstanding -= 1;
                    }
                }
                _ = tokio::time::sleep(sleep_for) => {}
                _ = cancel.changed(), if !interrupted => {}
            }
            recorder.flush_if_due()?;
            on_tick(recorder, self.nanos_at(Instant::now()));
        }
        recorder.flush()?;
        Ok(RunSummary {
            interrupted,
            abandoned: 0,
        })
    }

    fn dispatch(&self, op: GenOp, driver: &mut Driver, recorder: &mut Recorder) -> Result<()> {
        let time = self.nanos_at(Instant::now());
        let kind = match op.process {
            Process::Nemesis => EventType::Info,
            Process::Client(_) => EventType::Invoke,
        };
        let event = recorder.record(Event {
            index: 0,
            time,
            process: op.process,
            kind,
            f: op.f.clone(),
            key: op.key.clone(),
            value: op.value.clone(),
            node: None,
            error: None,
        })?;
        driver.invoked(&event);
        let sent = match driver.context().thread_of(op.process) {
            Some(Thread::Client(i)) => self
                .workers
                .get(i)
                .ok_or_else(|| {
                    anyhow!(
                        "op for client thread {i}, but only {} workers",
                        self.workers.len()
                    )
                })?
                .send(op)
                .is_ok(),
            Some(Thread::Nemesis) => match &self.nemesis {
                Some(tx) => tx.send(op).is_ok(),
                None => {
                    return Err(anyhow!(
                        "the generator emitted a nemesis op but no nemesis runs"
                    ))
                }
            },
            None => {
                return Err(anyhow!(
                    "the generator emitted an op for {:?}, which no thread runs",
                    op.process
                ))
            }
        };
        if !sent {
            return Err(anyhow!("a worker task stopped unexpectedly"));
        }
        Ok(())
    }

    fn complete(
        &self,
        finished: Finished,
        driver: &mut Driver,
        recorder: &mut Recorder,
    ) -> Result<()> {
        let kind = match finished.outcome {
            Outcome::Ok => EventType::Ok,
            Outcome::Fail => EventType::Fail,
            Outcome::Info => EventType::Info,
        };
        let event = recorder.record(Event {
            index: 0,
            time: self.nanos_at(finished.at),
            process: finished.op.process,
            kind,
            f: finished.op.f,
            key: finished.op.key,
            value: finished.value,
            node: finished.node,
            error: finished.error,
        })?;
        driver.completed(&event);
        Ok(())
    }

    /// Stops the workers and the nemesis task (their channels close), waiting up to `grace`
    /// for them to finish their current op; the rest are aborted.
    pub async fn shutdown(self, grace: Duration) {
        drop(self.workers);
        drop(self.nemesis);
        let deadline = tokio::time::Instant::now() + grace;
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abort.abort();
            }
        }
    }
}
