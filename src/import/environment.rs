//! supervisor's `environment = KEY="val",KEY2=val2`: split by Python's `shlex` in POSIX mode
//! with `/.+-():` added to the word characters, then read as `KEY = VALUE ,` groups
//! (`datatypes.dict_of_key_value_pairs`). Unquoted values may hold only word characters.

/// The pairs in order; an error says what is wrong, as supervisor does.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let tokens = tokens(text)?;
    let mut pairs = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i..tokens.len().min(i + 3)] {
            [key, eq, value] if eq == "=" => {
                pairs.push((key.clone(), value.clone()));
            }
            _ => {
                return Err(format!(
                    "unexpected end of KEY=value pairs in {text:?} (quote values holding \
                     characters other than letters, digits and _/.+-():, like A=\"x y\")"
                ));
            }
        }
        // The separator (a comma) is not checked, as in supervisor.
        i += 4;
    }
    Ok(pairs)
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "_/.+-():".contains(c)
        // shlex's POSIX word characters include Latin-1 letters.
        || ('\u{c0}'..='\u{ff}').contains(&c) && c != '\u{d7}' && c != '\u{f7}'
}

/// shlex in POSIX mode: words, quotes joined to the word they touch, `\` escapes outside
/// single quotes, `#` starts a comment (inside a word too), any other character is a token
/// by itself.
fn tokens(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut word: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => out.extend(word.take()),
            '#' => {
                out.extend(word.take());
                // A comment runs to the end of the line.
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
            }
            '\'' | '"' => {
                let w = word.get_or_insert_default();
                loop {
                    match chars.next() {
                        None => return Err(format!("no closing quotation in {text:?}")),
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => match chars.next() {
                            Some(n @ ('"' | '\\')) => w.push(n),
                            Some(n) => {
                                w.push('\\');
                                w.push(n);
                            }
                            None => return Err(format!("no closing quotation in {text:?}")),
                        },
                        Some(n) => w.push(n),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(n) => word.get_or_insert_default().push(n),
                None => return Err(format!("no escaped character in {text:?}")),
            },
            c if is_word(c) => word.get_or_insert_default().push(c),
            c => {
                out.extend(word.take());
                out.push(c.to_string());
            }
        }
    }
    out.extend(word);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap_or_else(|e| panic!("{text:?} parses: {e}"))
    }

    fn owned(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pairs_read_as_supervisor_reads_them() {
        assert_eq!(
            pairs("A=1,B=\"two words\", C='x,y',PATH=/usr/bin:/bin"),
            owned(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", "x,y"),
                ("PATH", "/usr/bin:/bin")
            ])
        );
        assert_eq!(
            pairs("\nDJANGO_SETTINGS_MODULE=\"app.settings\",\nEMPTY=\"\""),
            owned(&[("DJANGO_SETTINGS_MODULE", "app.settings"), ("EMPTY", "")]),
            "continuation lines and empty values"
        );
        assert_eq!(pairs("K=\"a\\\"b\""), owned(&[("K", "a\"b")]));
        assert_eq!(
            pairs("A=x y"),
            owned(&[("A", "x")]),
            "the separator is not checked"
        );
        assert_eq!(pairs(""), owned(&[]));
    }

    #[test]
    fn unquoted_special_characters_and_open_quotes_are_errors() {
        for bad in ["URL=a@b", "A=1,B", "A=\"open", "=1", "A 1", "A=x;y"] {
            assert!(parse(bad).is_err(), "{bad:?} is refused");
        }
    }
}
