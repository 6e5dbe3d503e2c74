//! POSIX shell quoting, for the command lines faultline sends to a remote shell over SSH
//! (OpenSSH joins its arguments with spaces and hands the string to the remote user's shell,
//! so every word must be quoted once, exactly). Pure.

/// `word` as one POSIX shell word: unchanged when it holds only characters no shell treats
/// specially, else in single quotes with each `'` written as `'\''`. The empty word is `''`.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:=@%+,".contains(c));
    if plain {
        return word.to_owned();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// The words of a command line, each quoted, joined by spaces.
pub fn quote_all<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_as_they_are() {
        for w in [
            "iptables",
            "-A",
            "FL-P-abc123",
            "10.1.2.3",
            "/tmp/x_y.log",
            "a=b,c",
        ] {
            assert_eq!(quote(w), w);
        }
    }

    #[test]
    fn special_words_are_single_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("a;rm -rf /"), "'a;rm -rf /'");
        assert_eq!(quote("x\ny"), "'x\ny'");
        assert_eq!(quote_all(&["echo", "a b", "c"]), "echo 'a b' c");
    }

    /// What `sh` makes of a quoted word is the word itself.
    #[test]
    fn sh_reads_quoted_words_back_exactly() {
        let words = [
            "plain",
            "",
            "two words",
            "it's",
            "'''",
            "$(id) `id` $HOME \\ \" ; & | < > * ? [ ] { } ~ #",
            "tab\there",
            "new\nline",
            "ünïcödé",
        ];
        let script = format!("printf '%s\\0' {}", quote_all(&words));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("sh runs");
        let got: Vec<String> = String::from_utf8(out.stdout)
            .expect("utf-8")
            .split('\0')
            .map(str::to_owned)
            .collect();
        let mut want: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        want.push(String::new());
        assert_eq!(got, want);
    }
}
