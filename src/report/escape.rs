//! Escaping for the three contexts a report writes untrusted text into: HTML text and
//! attribute values, XML (SVG and JUnit share the same rules), and JSON inside a
//! `<script type="application/json">` block. Every value that came from the target or the
//! history goes through one of these; nothing else builds markup from data.

use std::fmt::Write as _;

/// Escapes `s` for HTML text or a double- or single-quoted attribute value: `&`, `<`, `>`,
/// `"` and `'` become character references, so no value can open a tag or end an attribute.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    push_html(&mut out, s);
    out
}

/// Like [`html`], appending to `out` (no intermediate string on hot paths).
pub fn push_html(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Escapes `s` for XML text or attribute values (SVG, JUnit). Besides the five markup
/// characters, control characters XML 1.0 forbids are replaced by U+FFFD, and tab, newline
/// and carriage return become character references so attribute values keep them.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// The characters XML 1.0 allows in a document (the `Char` production), minus the ones
/// [`xml`] handles itself.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Makes serialized JSON safe inside `<script type="application/json">`: `<`, `>` and `&`
/// become `\u003c`, `\u003e` and `\u0026` (they can only occur inside JSON strings, where
/// those escapes mean the same characters), so `</script>` or `<!--` in a value cannot end
/// or change the block. U+2028/U+2029 are escaped too, for older JavaScript parsers.
pub fn json_for_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 64);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Shortens `s` to at most `max` characters, marking the cut with an ellipsis, so one huge
/// value cannot swell the report.
pub fn truncate(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..cut])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup_and_quotes() {
        let cases = [
            (
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("a \"b\" 'c'", "a &quot;b&quot; &#39;c&#39;"),
            ("x & y", "x &amp; y"),
            ("plain", "plain"),
        ];
        for (i, (input, want)) in cases.iter().enumerate() {
            assert_eq!(html(input), *want, "case {i}");
        }
    }

    #[test]
    fn xml_escapes_markup_and_drops_forbidden_controls() {
        assert_eq!(xml("<a b=\"c\">&'"), "&lt;a b=&quot;c&quot;&gt;&amp;&apos;");
        assert_eq!(xml("x\u{1}y"), "x\u{FFFD}y");
        assert_eq!(xml("l1\nl2"), "l1&#10;l2");
    }

    #[test]
    fn script_json_cannot_close_the_block() {
        let v = serde_json::json!({"value": "</script><script>alert(1)</script>", "q": "a&b"});
        let text = json_for_script(&serde_json::to_string(&v).unwrap());
        assert!(
            !text.contains('<') && !text.contains('>') && !text.contains('&'),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v, "the escapes decode to the same JSON");
    }

    #[test]
    fn truncate_cuts_on_char_boundaries() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo", 2), "hé…");
    }
}
