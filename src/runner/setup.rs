//! A workload's setup, before the main phase and outside the history (Jepsen's client
//! `setup!`): e.g. the bank's opening balances. Each setup op is idempotent (a write of a fixed
//! value before anything else runs), so it is retried until it is acknowledged: a `fail` (no
//! leader yet) or `info` (timeout) just means "try again", within a deadline.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::client::{Client, Invocation};
use crate::history::Outcome;

/// How long the whole setup may take (a fresh cluster elects a leader well within this).
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause between attempts of an op that did not succeed.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Runs every op through `client` until each is acknowledged, in order; an error names the op
/// that could not be done by `deadline` and its last error.
pub async fn run_setup(
    client: &mut dyn Client,
    ops: &[Invocation],
    deadline: Instant,
) -> Result<()> {
    for op in ops {
        // Bounded: every attempt ends within the client's timeout, and the deadline stops the loop.
        loop {
            let done = client.invoke(op).await;
            if done.outcome == Outcome::Ok {
                break;
            }
            if Instant::now() + RETRY_PAUSE >= deadline {
                bail!(
                    "workload setup: {} of {} = {} not acknowledged within {:?}; last answer: {}",
                    op.f,
                    op.key
                        .as_ref()
                        .map_or_else(|| "the register".to_string(), |k| k.to_string()),
                    op.value,
                    SETUP_TIMEOUT,
                    done.error.as_deref().unwrap_or("none")
                );
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Completion;
    use serde_json::{json, Value};

    /// Fails its first `failures` invocations, then acknowledges; records what it was asked.
    struct Flaky {
        failures: usize,
        seen: Vec<Value>,
    }

    #[async_trait::async_trait]
    impl Client for Flaky {
        async fn invoke(&mut self, op: &Invocation) -> Completion {
            self.seen.push(op.value.clone());
            let outcome = if self.failures > 0 {
                self.failures -= 1;
                Outcome::Fail
            } else {
                Outcome::Ok
            };
            Completion {
                outcome,
                value: op.value.clone(),
                error: Some("503: no leader known".into()),
                node: None,
            }
        }
    }

    fn write(v: i64) -> Invocation {
        Invocation {
            f: "write".into(),
            key: Some(json!(format!("bank-{v}"))),
            value: json!(v),
        }
    }

    #[tokio::test]
    async fn ops_are_retried_until_acknowledged_in_order() {
        let mut c = Flaky {
            failures: 2,
            seen: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        run_setup(&mut c, &[write(1), write(2)], deadline)
            .await
            .unwrap();
        assert_eq!(c.seen, vec![json!(1), json!(1), json!(1), json!(2)]);
    }

    #[tokio::test]
    async fn a_setup_that_never_succeeds_stops_at_the_deadline() {
        let mut c = Flaky {
            failures: usize::MAX,
            seen: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_millis(500);
        let err = run_setup(&mut c, &[write(7)], deadline)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("write of \"bank-7\" = 7 not acknowledged"),
            "{err}"
        );
        assert!(err.contains("503: no leader known"), "{err}");
        assert!(c.seen.len() <= 4, "{}", c.seen.len());
    }
}
