//! Rule 9 of the search (`search`): an indeterminate effect that nothing observes next need
//! not be linearized.
//!
//! An `info` write of a value nobody reads may take effect at any time after its invoke, or
//! never; trying it at every configuration multiplies the configurations of a long key by every
//! subset of such ops, because a configuration's memo key names the optional ops it has
//! linearized (a key of 10k ops with a few hundred pending `info` writes never finished). This
//! module decides which optional ops the search may leave out, or try only when useful.
//!
//! **When it applies.** Rule 9 is on for a sub-history whose every op's input is either
//! *observing*, legal in exactly one state `u` ([`Dependence::State`]: a read of `u`, a cas
//! from `u`), or *blind and producing*, legal in every state and leaving a state `w` that does
//! not depend on the state before it ([`Dependence::Nothing`] with [`Model::produces`] =
//! `Some(w)`: a write of `w`). An op may be both (a cas from `u` to `w` observes `u` and
//! produces `w`). Any other input (an append, etcd's failed compare, every op of a model that
//! does not describe its ops this way) turns rule 9 off for the whole sub-history.
//!
//! **Normal form.** Call a sequence of ops *normal* when every optional op `o` in it that
//! produces a state `v` is immediately followed by an op that observes `v`. *Claim: if
//! rule 9 is on and a configuration C has a completion σ (a legal sequence of remaining ops
//! that respects real time and includes every remaining required op), it has a normal one.*
//! Take any optional op `o` in σ producing `v` and not followed by an observer of `v`. After
//! `o` the state is `v`. If `o` is last, drop it: no op follows to notice. Else let `x` be the
//! op after it; `x` is legal in state `v`, so `x` is not observing some `u ≠ v`; it does not
//! observe `v` either, so `x` is blind and producing: legal in the state before `o` and leaving
//! the same state `w` as before, so dropping `o` changes the state of no other op. Dropping an
//! op breaks no real-time order (it only removes constraints) and `o` is optional, so the
//! result is again a completion, one op shorter. Repeat; σ only shrinks, so this ends, with a
//! normal completion. ∎
//!
//! **What the search does with it.** A configuration is completable iff it has a normal
//! completion, so the search may look only for normal ones. That is a fact about the
//! configuration alone (as rules 1–8 require for the memo to stay sound):
//!
//! - *Up front* ([`Observers::unobserved`]): an optional op producing `v` when no *other*
//!   op of the sub-history observes `v` is never followed by an observer of `v`, so no normal
//!   completion contains it: it is removed before the search (an optional op has no return,
//!   so its absence changes which ops are candidates for no other op).
//! - *Per configuration* ([`Observers::observed_next`]): the op after an optional `o` in a
//!   normal completion is an observer `j ≠ o` of `v` that is a candidate right after `o`, i.e.
//!   remaining and invoked before the first remaining return (linearizing `o` removes no
//!   return). So `o` is tried only when such a `j` is among the configuration's enabled ops.
//!
//! The other rules keep their arguments over normal completions: moving a legal read to the
//! front (rule 3) may leave an optional op followed by a non-observer, and dropping it as above
//! restores a normal completion that still starts with the read; swapping identical optional
//! ops (rule 4) keeps a completion normal; rule 6 prunes candidates with no completion at all.
//! Rule 9 only ever removes optional ops, so a completion it finds is a completion.

use crate::checker::model::{Dependence, InputId, Model, StateId};

/// No state: the op observes (or produces) no single state.
pub(crate) const NONE: StateId = StateId::MAX;

/// Rule 9's facts about one op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Effect {
    /// The one state the op is legal in, or [`NONE`].
    pub observes: StateId,
    /// The state the op always leaves, or [`NONE`].
    pub produces: StateId,
}

/// The op's [`Effect`] when rule 9 can use it: `None` for an op that is neither observing
/// nor blind and producing, which turns the rule off for its sub-history.
pub(crate) fn effect<M: Model>(model: &M, input: InputId) -> Option<Effect> {
    let produces = model.produces(input).unwrap_or(NONE);
    match model.dependence(input) {
        Dependence::State(u) => Some(Effect {
            observes: u,
            produces,
        }),
        Dependence::Nothing if produces != NONE => Some(Effect {
            observes: NONE,
            produces,
        }),
        Dependence::Nothing | Dependence::All => None,
    }
}

/// The [`Effect`]s of a sub-history's inputs, or `None` when rule 9 is off for it.
pub(crate) fn effects<M: Model>(
    model: &M,
    inputs: impl IntoIterator<Item = InputId>,
) -> Option<Vec<Effect>> {
    inputs.into_iter().map(|i| effect(model, i)).collect()
}

/// The states a set of ops observes, with multiplicity: to ask whether an op other than `o`
/// observes what `o` produces.
#[derive(Debug, Default)]
pub(crate) struct Observers {
    sorted: Vec<StateId>,
}

impl Observers {
    /// Collects the observed states of `effects`.
    pub(crate) fn fill<'e>(&mut self, effects: impl IntoIterator<Item = &'e Effect>) {
        self.sorted.clear();
        self.sorted.extend(
            effects
                .into_iter()
                .map(|e| e.observes)
                .filter(|&u| u != NONE),
        );
        self.sorted.sort_unstable();
    }

    /// True when some op of the set other than the one with effect `own` (which is in the
    /// set) observes what `own` produces; true for an op that produces no single state (the
    /// rule says nothing of it).
    pub(crate) fn observed_next(&self, own: Effect) -> bool {
        let v = own.produces;
        if v == NONE {
            return true;
        }
        let from = self.sorted.partition_point(|&u| u < v);
        let to = self.sorted.partition_point(|&u| u <= v);
        let mine = usize::from(own.observes == v);
        to - from > mine
    }

    /// True when `own` (in the set) produces a state that no other op of the set observes.
    pub(crate) fn unobserved(&self, own: Effect) -> bool {
        !self.observed_next(own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::model::tests_support::op;
    use crate::checker::model::{ModelOptions, Prepared, RegisterFlavor, RegisterModel};
    use crate::history::Outcome;
    use serde_json::json;

    fn input(m: &mut RegisterModel, f: &str, v: serde_json::Value, outcome: Outcome) -> InputId {
        match m.prepare(&op(f, v.clone(), v, outcome)).unwrap() {
            Prepared::Input(i) => i,
            Prepared::Skip => panic!("dropped"),
        }
    }

    #[test]
    fn registers_have_effects_but_appends_and_failed_compares_do_not() {
        let mut kv = RegisterModel::new(RegisterFlavor::Kv, &ModelOptions::default());
        let w = input(&mut kv, "write", json!(1), Outcome::Info);
        let r = input(&mut kv, "read", json!(1), Outcome::Ok);
        let cas = input(&mut kv, "cas", json!([1, 2]), Outcome::Ok);
        let e = effects(&kv, [w, r, cas]).expect("reads, writes and cas have effects");
        assert_eq!(e[0].observes, NONE);
        assert_eq!(e[0].produces, e[1].observes);
        assert_eq!(e[2].observes, e[1].observes);
        assert_ne!(e[2].produces, NONE);
        let append = input(&mut kv, "append", json!("x"), Outcome::Ok);
        assert!(effects(&kv, [w, append]).is_none());
        let mut etcd = RegisterModel::new(RegisterFlavor::Etcd, &ModelOptions::default());
        let failed = input(&mut etcd, "cas", json!([1, 2]), Outcome::Fail);
        assert!(effects(&etcd, [failed]).is_none());
    }

    #[test]
    fn an_effect_is_observed_only_by_another_op() {
        let (a, b) = (5, 6);
        let e = |observes, produces| Effect { observes, produces };
        let (write_a, read_a) = (e(NONE, a), e(a, NONE));
        let (cas_a_a, cas_a_b) = (e(a, a), e(a, b));
        let mut set = Observers::default();
        set.fill(&[write_a, cas_a_b]);
        assert!(set.observed_next(write_a));
        assert!(set.unobserved(cas_a_b), "nothing observes b");
        set.fill(&[cas_a_a]);
        assert!(set.unobserved(cas_a_a), "a cas does not observe itself");
        set.fill(&[cas_a_a, cas_a_a]);
        assert!(set.observed_next(cas_a_a), "its twin observes it");
        set.fill(&[read_a, write_a]);
        assert!(set.observed_next(write_a));
        assert!(
            set.observed_next(read_a),
            "a read produces nothing: no rule"
        );
    }
}
