//! Splits one configuration line into words, the way HAProxy's `parse_line()` does.
//!
//! - Words are separated by spaces and tabs; `#` outside quotes starts a comment.
//! - Backslash escapes outside single quotes: `\ `, `\#`, `\\`, `\'`, `\"`, `\$`, `\r`, `\n`,
//!   `\t`, `\xHH`. Any other escaped character is kept with its backslash (regexes such as
//!   `\.` keep working, as in HAProxy).
//! - Double quotes ("weak" quoting) keep spaces and `#`, still interpret escapes and expand
//!   environment variables `$NAME` / `${NAME}`.
//! - Single quotes ("strong" quoting) keep everything literally.
//! - A word that consisted only of quoted variables which all expanded to nothing vanishes,
//!   like HAProxy does for `"${UNSET}"`.

/// Why a line could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LexError {
    /// A quote opened at this byte offset is never closed.
    UnterminatedQuote { quote: char, column: usize },
    /// `\x` not followed by two hexadecimal digits.
    BadHexEscape { column: usize },
    /// `${` without its closing brace.
    UnterminatedVariable { column: usize },
}

impl std::fmt::Display for LexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LexError::UnterminatedQuote { quote, column } => {
                write!(f, "unmatched quote {quote} at column {column}")
            }
            LexError::BadHexEscape { column } => {
                write!(
                    f,
                    "invalid '\\x' escape at column {column} (two hex digits expected)"
                )
            }
            LexError::UnterminatedVariable { column } => {
                write!(f, "unterminated '${{' variable at column {column}")
            }
        }
    }
}

/// The words of a line, plus the names of referenced environment variables that were unset.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Line {
    pub words: Vec<String>,
    pub unset_vars: Vec<String>,
}

/// Splits `line` into words. `getenv` resolves environment variables.
pub fn split(line: &str, getenv: &dyn Fn(&str) -> Option<String>) -> Result<Line, LexError> {
    let b = line.as_bytes();
    let mut out = Line::default();
    let mut i = 0;
    // The current word: its bytes, whether anything was written to it, and whether it only
    // consisted of variable expansions so far (so that an empty expansion drops the word).
    let mut cur: Vec<u8> = Vec::new();
    let mut started = false;
    let mut only_vars = true;
    let mut had_var = false;
    let mut dquote: Option<usize> = None;
    let mut squote: Option<usize> = None;

    let finish = |cur: &mut Vec<u8>,
                  started: &mut bool,
                  only_vars: &mut bool,
                  had_var: &mut bool,
                  out: &mut Line| {
        if *started && !(cur.is_empty() && *only_vars && *had_var) {
            out.words.push(String::from_utf8_lossy(cur).into_owned());
        }
        cur.clear();
        *started = false;
        *only_vars = true;
        *had_var = false;
    };

    while i < b.len() {
        let c = b[i];
        if squote.is_some() {
            if c == b'\'' {
                squote = None;
            } else {
                cur.push(c);
                only_vars = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'\'' if dquote.is_none() => {
                squote = Some(i);
                started = true;
                only_vars = false;
                i += 1;
            }
            b'"' => {
                if dquote.is_some() {
                    dquote = None;
                } else {
                    dquote = Some(i);
                    started = true;
                }
                i += 1;
            }
            b'\\' if i + 1 < b.len() => {
                started = true;
                only_vars = false;
                let n = b[i + 1];
                match n {
                    b' ' | b'#' | b'\\' | b'\'' | b'"' | b'$' => {
                        cur.push(n);
                        i += 2;
                    }
                    b'r' => {
                        cur.push(b'\r');
                        i += 2;
                    }
                    b'n' => {
                        cur.push(b'\n');
                        i += 2;
                    }
                    b't' => {
                        cur.push(b'\t');
                        i += 2;
                    }
                    b'x' => {
                        let hex = b.get(i + 2..i + 4).and_then(|h| {
                            std::str::from_utf8(h)
                                .ok()
                                .and_then(|h| u8::from_str_radix(h, 16).ok())
                        });
                        match hex {
                            Some(v) => {
                                cur.push(v);
                                i += 4;
                            }
                            None => return Err(LexError::BadHexEscape { column: i + 1 }),
                        }
                    }
                    _ => {
                        // Unknown escapes keep the backslash: regexes rely on it.
                        cur.push(b'\\');
                        cur.push(n);
                        i += 2;
                    }
                }
            }
            b'$' if dquote.is_some() => {
                // Variable names: letters, digits and '_' (not starting with a digit).
                let (name, next) = if b.get(i + 1) == Some(&b'{') {
                    match b[i + 2..].iter().position(|&x| x == b'}') {
                        Some(end) => (&line[i + 2..i + 2 + end], i + 3 + end),
                        None => return Err(LexError::UnterminatedVariable { column: i + 1 }),
                    }
                } else {
                    let start = i + 1;
                    let mut j = start;
                    while j < b.len()
                        && (b[j].is_ascii_alphanumeric() || b[j] == b'_')
                        && !(j == start && b[j].is_ascii_digit())
                    {
                        j += 1;
                    }
                    (&line[start..j], j)
                };
                started = true;
                had_var = true;
                if name.is_empty() {
                    cur.push(b'$');
                    only_vars = false;
                    i += 1;
                    continue;
                }
                match getenv(name) {
                    Some(v) => {
                        if !v.is_empty() {
                            only_vars = false;
                        }
                        cur.extend_from_slice(v.as_bytes());
                    }
                    None => out.unset_vars.push(name.to_string()),
                }
                i = next;
            }
            b'#' if dquote.is_none() => break,
            b' ' | b'\t' | b'\r' | b'\n' if dquote.is_none() => {
                finish(
                    &mut cur,
                    &mut started,
                    &mut only_vars,
                    &mut had_var,
                    &mut out,
                );
                i += 1;
            }
            _ => {
                started = true;
                only_vars = false;
                cur.push(c);
                i += 1;
            }
        }
    }
    if let Some(col) = dquote {
        return Err(LexError::UnterminatedQuote {
            quote: '"',
            column: col + 1,
        });
    }
    if let Some(col) = squote {
        return Err(LexError::UnterminatedQuote {
            quote: '\'',
            column: col + 1,
        });
    }
    finish(
        &mut cur,
        &mut started,
        &mut only_vars,
        &mut had_var,
        &mut out,
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("10.0.0.1".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn words(line: &str) -> Vec<String> {
        split(line, &env).unwrap().words
    }

    #[test]
    fn plain_words_and_comments() {
        assert_eq!(words("  bind *:80   # web"), ["bind", "*:80"]);
        assert_eq!(
            words("\tserver s1 10.0.0.1:80 check"),
            ["server", "s1", "10.0.0.1:80", "check"]
        );
        assert_eq!(words("# only a comment"), Vec::<String>::new());
        assert_eq!(words("foo#bar"), ["foo"]);
        assert_eq!(words(""), Vec::<String>::new());
    }

    #[test]
    fn escapes() {
        assert_eq!(
            words(r"stats realm Haproxy\ Statistics"),
            ["stats", "realm", "Haproxy Statistics"]
        );
        assert_eq!(words(r"a\#b"), ["a#b"]);
        assert_eq!(words(r"a\\b"), [r"a\b"]);
        assert_eq!(words(r"\x41\x42"), ["AB"]);
        assert_eq!(
            words(r"path_reg ^/img/.*\.png$"),
            ["path_reg", r"^/img/.*\.png$"]
        );
        assert_eq!(
            split(r"\xZZ", &env),
            Err(LexError::BadHexEscape { column: 1 })
        );
    }

    #[test]
    fn quotes() {
        assert_eq!(
            words(r#"log-format "%t %s" x"#),
            ["log-format", "%t %s", "x"]
        );
        assert_eq!(words(r#"a 'b # c' d"#), ["a", "b # c", "d"]);
        assert_eq!(words(r#"a '\x41'"#), ["a", r"\x41"]);
        assert_eq!(words(r#""q\"q""#), [r#"q"q"#]);
        assert_eq!(words(r#"x"a b"'c d'"#), ["xa bc d"]);
        assert_eq!(words(r#"empty """#), ["empty", ""]);
        assert!(matches!(
            split(r#"description "abc"#, &env),
            Err(LexError::UnterminatedQuote {
                quote: '"',
                column: 13
            })
        ));
        assert!(matches!(
            split("a 'b", &env),
            Err(LexError::UnterminatedQuote { quote: '\'', .. })
        ));
    }

    #[test]
    fn environment() {
        assert_eq!(
            words(r#"server s "${HOST}:80""#),
            ["server", "s", "10.0.0.1:80"]
        );
        assert_eq!(
            words(r#"server s "$HOST:80""#),
            ["server", "s", "10.0.0.1:80"]
        );
        // Only interpreted inside double quotes.
        assert_eq!(words(r#"x $HOST '${HOST}'"#), ["x", "$HOST", "${HOST}"]);
        assert_eq!(words(r#"x "\$HOST""#), ["x", "$HOST"]);
        // An unset variable alone in quotes makes the word vanish, as in HAProxy.
        let l = split(r#"description "${UNSET}" z"#, &env).unwrap();
        assert_eq!(l.words, ["description", "z"]);
        assert_eq!(l.unset_vars, ["UNSET"]);
        assert_eq!(words(r#"a "${EMPTY}""#), ["a"]);
        assert_eq!(words(r#"a "p${UNSET}""#), ["a", "p"]);
        assert_eq!(
            split(r#"a "${HOST""#, &env),
            Err(LexError::UnterminatedVariable { column: 4 })
        );
    }
}
