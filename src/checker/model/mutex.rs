//! A mutex: `acquire` succeeds only when unlocked, `release` only when held.

use super::{fname, InputId, Model, ModelError, ModelOptions, Prepared, StateId};
use crate::history::{Op, Outcome};

const UNLOCKED: StateId = 0;
const LOCKED: StateId = 1;
const ACQUIRE: InputId = 0;
const RELEASE: InputId = 1;

/// A lock with two states; it starts unlocked (`--initial true` starts it held).
#[derive(Debug, Clone)]
pub struct MutexModel {
    initially_locked: bool,
}

impl MutexModel {
    /// A mutex; `initial: true` means it starts held, anything else unlocked.
    pub fn new(options: &ModelOptions) -> Self {
        MutexModel {
            initially_locked: options.initial == serde_json::Value::Bool(true),
        }
    }
}

impl Model for MutexModel {
    fn prepare(&mut self, op: &Op) -> Result<Prepared, ModelError> {
        if op.outcome == Outcome::Fail {
            return Ok(Prepared::Skip);
        }
        match fname(op) {
            "acquire" | "lock" => Ok(Prepared::Input(ACQUIRE)),
            "release" | "unlock" => Ok(Prepared::Input(RELEASE)),
            other => Err(ModelError::UnknownFunction {
                model: "mutex",
                index: op.invoke_index,
                f: other.to_string(),
                expected: "acquire or release",
            }),
        }
    }

    fn init(&mut self) -> StateId {
        if self.initially_locked {
            LOCKED
        } else {
            UNLOCKED
        }
    }

    fn step(&mut self, state: StateId, input: InputId) -> Option<StateId> {
        match (state, input) {
            (UNLOCKED, ACQUIRE) => Some(LOCKED),
            (LOCKED, RELEASE) => Some(UNLOCKED),
            _ => None,
        }
    }

    fn is_read_only(&self, _input: InputId) -> bool {
        false
    }

    fn describe_state(&self, state: StateId) -> String {
        if state == LOCKED { "held" } else { "free" }.to_string()
    }

    fn noun(&self) -> &'static str {
        "the mutex"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::model::tests_support::op;
    use serde_json::json;

    #[test]
    fn acquire_release_table() {
        let mut m = MutexModel::new(&ModelOptions::default());
        let acq = op("acquire", json!(null), json!(null), Outcome::Ok);
        let rel = op("release", json!(null), json!(null), Outcome::Ok);
        let (Prepared::Input(a), Prepared::Input(r)) =
            (m.prepare(&acq).unwrap(), m.prepare(&rel).unwrap())
        else {
            panic!("ops dropped")
        };
        let s = m.init();
        assert_eq!(m.describe_state(s), "free");
        assert_eq!(m.step(s, r), None, "release of a free mutex");
        let held = m.step(s, a).unwrap();
        assert_eq!(m.step(held, a), None, "double acquire");
        assert_eq!(m.step(held, r), Some(s));
        let failed = op("acquire", json!(null), json!(null), Outcome::Fail);
        assert_eq!(m.prepare(&failed).unwrap(), Prepared::Skip);
        assert!(m
            .prepare(&op("read", json!(null), json!(null), Outcome::Ok))
            .is_err());
    }
}
