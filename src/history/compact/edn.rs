//! EDN into the compact history: [`Arena::push_edn`] stores a parsed [`Edn`] value as the
//! word [`Arena::push_value`] would give its [`Edn::to_json`] (no `serde_json::Value` built
//! on the way, but for maps, which the arena keeps whole anyway), and the compact
//! [`EdnSink`] lets the Jepsen EDN and Porcupine readers build a [`CompactHistory`] with
//! their one set of rules.

use serde_json::{Number, Value};

use super::arena::{Arena, Val};
use super::read::CEvent;
use super::CompactHistory;
use crate::history::edn::Edn;
use crate::history::error::Reason;
use crate::history::pair::{Pairer, RawEvent};
use crate::history::sink::EdnSink;

impl Arena {
    /// Stores `e` as the JSON value [`Edn::to_json`] gives (keywords, symbols and characters
    /// as strings, lists, vectors and sets as arrays, tags dropped, maps kept whole).
    pub fn push_edn(&mut self, e: &Edn) -> Val {
        match e {
            Edn::Nil => Val::NULL,
            Edn::Bool(b) => Val::bool(*b),
            Edn::Int(n) => Val::int(*n).unwrap_or_else(|| self.push_other(Value::from(*n))),
            Edn::BigInt(digits) => match digits.parse::<u64>() {
                Ok(n) => i64::try_from(n)
                    .ok()
                    .and_then(Val::int)
                    .unwrap_or_else(|| self.push_other(Value::from(n))),
                // Beyond u64: kept as its digits, as `to_json` keeps it.
                Err(_) => Val::str(self.intern(digits)),
            },
            Edn::Float(x) => {
                Number::from_f64(*x).map_or(Val::NULL, |n| self.push_other(Value::Number(n)))
            }
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Val::str(self.intern(s)),
            Edn::Char(c) => Val::str(self.intern(c.encode_utf8(&mut [0; 4]))),
            Edn::List(items) | Edn::Vector(items) | Edn::Set(items) => {
                let mark = self.begin_array();
                for item in items {
                    let v = self.push_edn(item);
                    self.push_item(v);
                }
                self.end_array(mark)
            }
            Edn::Map(_) => self.push_other(e.to_json()),
            Edn::Tagged(_, inner) => self.push_edn(inner),
        }
    }
}

/// Values straight into the history's arena, events paired as the JSONL reader's are.
impl EdnSink for Pairer<CompactHistory> {
    type V = Val;
    type Out = CompactHistory;
    fn value(&mut self, e: &Edn) -> Val {
        self.store_mut().arena.push_edn(e)
    }
    fn same(&self, a: &Val, b: &Val) -> bool {
        self.store().arena.equal(*a, *b)
    }
    fn show(&self, v: &Val) -> String {
        self.store().arena.value(*v).to_string()
    }
    fn event(&mut self, ev: RawEvent<'_, Val>, line: u64) -> Result<(), Reason> {
        let ev = CEvent::new(ev, &mut self.store_mut().arena);
        self.push(ev, line)
    }
    fn finish(self) -> CompactHistory {
        Pairer::finish(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::edn::parse_str;

    /// `push_edn` stands for what `to_json` gives, and equals `push_value` of it.
    #[test]
    fn every_edn_value_is_its_json() {
        let texts = [
            "nil",
            "true",
            "-7",
            "1152921504606846976",
            "-1152921504606846977",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "18446744073709551615N",
            "18446744073709551616",
            "-99999999999999999999N",
            "1.5",
            "2.0",
            "##Inf",
            "##NaN",
            "\"s\"",
            ":read",
            "sym",
            r"\a",
            r"\é",
            "[]",
            "[1 :append [2 (3 #{4})] nil]",
            "{:a [1 2] \"b\" #{:x}}",
            "#jepsen.independent/tuple [7 [1 2]]",
            "[#inst \"2020-01-01\" {:k 1}]",
        ];
        let mut a = Arena::new();
        for text in texts {
            let e = parse_str(text).unwrap();
            let want = e.to_json();
            let got = a.push_edn(&e);
            assert_eq!(a.value(got), want, "{text}");
            let via_json = a.push_value(&want);
            assert!(a.equal(got, via_json), "{text}");
            assert_eq!(got.is_canonical(), via_json.is_canonical(), "{text}");
            if got.is_canonical() {
                assert_eq!(got, via_json, "{text}");
            }
        }
    }
}
