//! Tab completion of the command language, independent of any terminal: given the line, the
//! cursor and the names a front end knows (see [`super::completion_names`]), the candidates for
//! the word under the cursor and their common prefix.

use super::parse::{COMMANDS, signal_names};

/// What Tab can do at a cursor position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Byte offset in the line where the word being completed starts.
    pub start: usize,
    /// Every word that fits, sorted; empty when nothing fits.
    pub candidates: Vec<String>,
    /// The longest prefix all candidates share (at least the typed word when any fit).
    pub common: String,
}

impl Completion {
    /// The line and cursor after Tab: the word replaced by the common prefix, plus a space when
    /// the candidate is unique. Unchanged when nothing fits.
    pub fn apply(&self, line: &str, cursor: usize) -> (String, usize) {
        if self.candidates.is_empty() {
            return (line.to_string(), cursor);
        }
        // Offsets from another line than the one completed must not panic.
        let floor = |mut i: usize| {
            i = i.min(line.len());
            while !line.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let start = floor(self.start);
        let cursor = floor(cursor.max(start));
        let rest = &line[cursor..];
        let unique = self.candidates.len() == 1;
        let mut insert = self.common.clone();
        if unique && !rest.starts_with(' ') {
            insert.push(' ');
        }
        let new_line = format!("{}{insert}{rest}", &line[..start]);
        let skip_space = usize::from(unique && rest.starts_with(' '));
        (new_line, start + insert.len() + skip_space)
    }
}

/// Candidates for the word ending at `cursor` (a byte offset, clamped to the line).
pub fn complete(line: &str, cursor: usize, names: &[String]) -> Completion {
    let mut cursor = cursor.min(line.len());
    while !line.is_char_boundary(cursor) {
        cursor -= 1;
    }
    let before = &line[..cursor];
    let start = before
        .rfind(char::is_whitespace)
        .map(|i| i + before[i..].chars().next().map_or(1, char::len_utf8))
        .unwrap_or(0);
    let word = &before[start..];
    let done: Vec<&str> = before[..start].split_whitespace().collect();
    let pool = pool_for(&done, names);
    let mut candidates: Vec<String> = pool.into_iter().filter(|c| fits(c, word)).collect();
    candidates.sort();
    candidates.dedup();
    // The shared prefix replaces the word only where it still says what was typed.
    let common = common_prefix(&candidates)
        .filter(|c| fits(c, word))
        .unwrap_or_else(|| word.to_string());
    Completion {
        start,
        candidates,
        common,
    }
}

/// A candidate fits a word it starts with, or, for a word without `:`, whose process part
/// (after `PROGRAM:`) starts with it: `trio_0` completes to `trio:trio_01`.
fn fits(candidate: &str, word: &str) -> bool {
    candidate.starts_with(word)
        || (!word.is_empty()
            && !word.contains(':')
            && candidate
                .split_once(':')
                .is_some_and(|(_, process)| process.starts_with(word)))
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

/// What may come next after the complete words `done`.
fn pool_for(done: &[&str], names: &[String]) -> Vec<String> {
    let Some((cmd, args)) = done.split_first() else {
        return strings(&COMMANDS);
    };
    match *cmd {
        "status" | "start" | "stop" | "restart" | "clear" | "rotate" => names.to_vec(),
        "pid" | "attach" | "fg" if args.is_empty() => names.to_vec(),
        "signal" if args.is_empty() => signal_names(),
        "signal" => names.to_vec(),
        "help" if args.is_empty() => strings(&COMMANDS),
        "tail" => {
            let positional = args.iter().filter(|a| !a.starts_with('-')).count();
            match positional {
                0 => names
                    .iter()
                    .filter(|n| *n != "all" && !n.ends_with(":*"))
                    .cloned()
                    .collect(),
                1 => strings(&["stdout", "stderr"]),
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

fn common_prefix(words: &[String]) -> Option<String> {
    let first = words.first()?;
    let mut len = first.len();
    for w in &words[1..] {
        len = first
            .char_indices()
            .zip(w.chars())
            .take_while(|((_, a), b)| a == b)
            .map(|((i, a), _)| i + a.len_utf8())
            .last()
            .unwrap_or(0)
            .min(len);
    }
    Some(first[..len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        strings(&[
            "all",
            "nginx",
            "worker",
            "worker:*",
            "worker:worker_00",
            "worker:worker_01",
        ])
    }

    fn cands(line: &str) -> Vec<String> {
        complete(line, line.len(), &names()).candidates
    }

    #[test]
    fn completes_by_position() {
        let cases: Vec<(&str, Vec<&str>)> = vec![
            ("sta", vec!["start", "status"]),
            ("re", vec!["reload", "reopen", "reread", "restart"]),
            ("stop worker_01", vec!["worker:worker_01"]),
            (
                "stop worker_0",
                vec!["worker:worker_00", "worker:worker_01"],
            ),
            ("start ng", vec!["nginx"]),
            (
                "stop worker:",
                vec!["worker:*", "worker:worker_00", "worker:worker_01"],
            ),
            ("status a", vec!["all"]),
            ("signal TE", vec!["TERM"]),
            ("signal TERM ng", vec!["nginx"]),
            ("tail ng", vec!["nginx"]),
            ("tail -f ng", vec!["nginx"]),
            ("tail nginx std", vec!["stderr", "stdout"]),
            ("tail nginx stdout x", vec![]),
            ("help sh", vec!["shutdown"]),
            ("reload x", vec![]),
            ("zzz", vec![]),
        ];
        for (line, want) in cases {
            assert_eq!(cands(line), strings(&want), "candidates for '{line}'");
        }
    }

    #[test]
    fn common_prefix_extends_the_word() {
        let c = complete("stop wo", 7, &names());
        assert_eq!(c.start, 5, "word starts after 'stop '");
        assert_eq!(c.common, "worker", "shared prefix of worker names");
    }

    #[test]
    fn unique_candidate_is_applied_with_a_space() {
        let c = complete("start ng", 8, &names());
        assert_eq!(c.apply("start ng", 8), ("start nginx ".to_string(), 12));
    }

    #[test]
    fn ambiguous_candidates_insert_only_the_common_part() {
        let c = complete("stop wo", 7, &names());
        assert_eq!(c.apply("stop wo", 7), ("stop worker".to_string(), 11));
    }

    #[test]
    fn completion_in_the_middle_keeps_the_rest() {
        let line = "start ng other";
        let c = complete(line, 8, &names());
        assert_eq!(c.apply(line, 8), ("start nginx other".to_string(), 12));
    }

    /// Regression: Tab after `trio_0` did nothing; the process part of a group name counts.
    #[test]
    fn a_process_part_completes_to_the_full_name() {
        let c = complete("stop worker_01", 14, &names());
        assert_eq!(
            c.apply("stop worker_01", 14),
            ("stop worker:worker_01 ".to_string(), 22)
        );
        let c = complete("stop worker_0", 13, &names());
        assert_eq!(
            c.apply("stop worker_0", 13),
            ("stop worker:worker_0".to_string(), 20),
            "several: the shared full prefix"
        );
    }

    #[test]
    fn nothing_fits_leaves_the_line() {
        let c = complete("frob", 4, &names());
        assert_eq!(c.apply("frob", 4), ("frob".to_string(), 4));
    }
}
