//! Maelstrom's wire format, exactly as its protocol documentation (`doc/protocol.md` in
//! jepsen-io/maelstrom, "Messages", "Message Bodies", "Initialization") defines it: one JSON
//! object per line, `{"src", "dest", "body"}`; the body's `type` is mandatory, `msg_id` and
//! `in_reply_to` optional integers; a node receives one `init` (`node_id`, `node_ids`) first
//! and answers `init_ok`. Pure.

use serde_json::{json, Map, Value};

/// The name faultline's `init` messages come from (clients are `c1`, `c2`, ...).
pub const INIT_SENDER: &str = "c0";

/// Longest piece of a bad line quoted in an error, in characters.
const MAX_QUOTE: usize = 200;

/// One message on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Who sent it.
    pub src: String,
    /// Who it is for.
    pub dest: String,
    /// The payload: `type`, optional `msg_id` and `in_reply_to`, and the type's own fields.
    pub body: Map<String, Value>,
}

impl Message {
    /// The body's `type`.
    pub fn kind(&self) -> &str {
        self.body.get("type").and_then(Value::as_str).unwrap_or("")
    }

    /// The body's `msg_id`, when it has an integer one.
    pub fn msg_id(&self) -> Option<u64> {
        self.body.get("msg_id").and_then(Value::as_u64)
    }

    /// The body's `in_reply_to`, when it has an integer one.
    pub fn in_reply_to(&self) -> Option<u64> {
        self.body.get("in_reply_to").and_then(Value::as_u64)
    }

    /// The message as one line of JSON (no newline).
    pub fn to_line(&self) -> String {
        json!({"src": self.src, "dest": self.dest, "body": self.body}).to_string()
    }
}

/// A line `s` cut to [`MAX_QUOTE`] characters for an error message.
pub fn quote(s: &str) -> String {
    let cut: String = s.chars().take(MAX_QUOTE).collect();
    if cut.len() < s.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}

/// Parses one line a node printed; the error says what is wrong and quotes the line.
pub fn parse_line(line: &str) -> Result<Message, String> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {}", quote(line)))?;
    let Value::Object(mut obj) = value else {
        return Err(format!("not a JSON object: {}", quote(line)));
    };
    let mut field = |name: &str| match obj.remove(name) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(format!(
            "no string {name:?} (a message is {{\"src\", \"dest\", \"body\"}}): {}",
            quote(line)
        )),
    };
    let src = field("src")?;
    let dest = field("dest")?;
    let body = match obj.remove("body") {
        Some(Value::Object(body)) => body,
        _ => return Err(format!("no object \"body\": {}", quote(line))),
    };
    if !body.get("type").is_some_and(Value::is_string) {
        return Err(format!("its body has no string \"type\": {}", quote(line)));
    }
    Ok(Message { src, dest, body })
}

/// The `init` message node `node` receives first.
pub fn init(node: &str, nodes: &[String], msg_id: u64) -> Message {
    let body = json!({"type": "init", "msg_id": msg_id, "node_id": node, "node_ids": nodes});
    Message {
        src: INIT_SENDER.into(),
        dest: node.into(),
        body: match body {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_parses_into_its_parts_and_back() {
        let line = r#"{"src":"n1","dest":"c2","body":{"type":"read_ok","msg_id":4,"in_reply_to":9,"value":3}}"#;
        let m = parse_line(line).expect("message");
        assert_eq!((m.src.as_str(), m.dest.as_str()), ("n1", "c2"));
        assert_eq!(m.kind(), "read_ok");
        assert_eq!((m.msg_id(), m.in_reply_to()), (Some(4), Some(9)));
        assert_eq!(parse_line(&m.to_line()), Ok(m));
    }

    #[test]
    fn bad_lines_say_what_is_wrong_and_quote_the_line() {
        let cases = [
            ("hello", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"dest":"n1","body":{"type":"x"}}"#, "no string \"src\""),
            (r#"{"src":"n1","dest":"n2","body":3}"#, "no object \"body\""),
            (
                r#"{"src":"n1","dest":"n2","body":{}}"#,
                "no string \"type\"",
            ),
        ];
        for (line, want) in cases {
            let e = parse_line(line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
            assert!(e.contains(&format!("{line:?}")), "quotes the line: {e}");
        }
        let long = "x".repeat(1000);
        assert!(parse_line(&long).unwrap_err().ends_with("..."));
    }

    #[test]
    fn init_names_the_node_and_every_node() {
        let nodes = ["n0", "n1"].map(String::from).to_vec();
        let m = init("n1", &nodes, 7);
        assert_eq!(
            m.to_line(),
            r#"{"body":{"msg_id":7,"node_id":"n1","node_ids":["n0","n1"],"type":"init"},"dest":"n1","src":"c0"}"#
        );
    }
}
