//! Brace placeholders in user-written text (pure): `{name}` stands for a value, `{{` and `}}`
//! for literal braces. The db spec's argument templates and the nemesis's `[commands]` share
//! this one lexer; each decides which names it accepts and what they stand for.

/// One piece of a parsed text: literal text, or a placeholder resolved to `V`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<V> {
    /// Text copied as is (escaped braces already unescaped).
    Text(String),
    /// A placeholder, as its caller's `resolve` named it.
    Var(V),
}

/// Splits `text` into literal text and placeholders, each placeholder's name passed through
/// `resolve` (which refuses names it does not know with its own message). Errors name the
/// text: an unclosed `{`, a lone `}`.
pub fn split<V>(
    text: &str,
    mut resolve: impl FnMut(&str) -> Result<V, String>,
) -> Result<Vec<Piece<V>>, String> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => name.push(ch),
                        None => return Err(format!("unclosed '{{' in {text:?}")),
                    }
                }
                let var = resolve(&name)?;
                if !lit.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Var(var));
            }
            '}' => {
                return Err(format!(
                    "a lone '}}' in {text:?} (write '}}}}' for a literal brace)"
                ))
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        pieces.push(Piece::Text(lit));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Result<Vec<Piece<String>>, String> {
        split(text, |n| {
            if n == "bad" {
                Err(format!("unknown {{{n}}}"))
            } else {
                Ok(n.to_owned())
            }
        })
    }

    #[test]
    fn placeholders_and_escaped_braces() {
        assert_eq!(
            names("a {x}{{y}} {z}"),
            Ok(vec![
                Piece::Text("a ".into()),
                Piece::Var("x".into()),
                Piece::Text("{y} ".into()),
                Piece::Var("z".into()),
            ])
        );
        assert_eq!(names(""), Ok(vec![]));
    }

    #[test]
    fn errors_name_the_text() {
        assert_eq!(names("{bad}"), Err("unknown {bad}".into()));
        assert_eq!(
            names("echo {node"),
            Err("unclosed '{' in \"echo {node\"".into())
        );
        assert_eq!(
            names("echo }"),
            Err("a lone '}' in \"echo }\" (write '}}' for a literal brace)".into())
        );
    }
}
