//! Shell completion: the scripts `taskmaster completions bash|zsh|fish` prints (clap's, for
//! the options and subcommands, plus a function that completes `taskmaster ctl ...` lines),
//! and [`candidates`], which that function calls back (`taskmaster __complete --line LINE`):
//! the command language's own completer ([`crate::command::complete`]) fed with the process
//! names of the running taskmaster, or of the config when none answers.

use std::path::PathBuf;

use super::Shell;
use crate::command;
use crate::frontend::ctl::{self, Client};

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = super::command();
    let mut out = Vec::new();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "taskmaster", &mut out);
    out.extend_from_slice(
        match shell {
            Shell::Bash => BASH_LIVE,
            Shell::Zsh => ZSH_LIVE,
            Shell::Fish => FISH_LIVE,
        }
        .as_bytes(),
    );
    out
}

/// After `ctl`, ask taskmaster itself. Bash splits words at `:`, so the part of a candidate up
/// to the last `:` of the word being completed is dropped again (as bash-completion's
/// `__ltrim_colon_completions` does).
const BASH_LIVE: &str = r#"
# Live completion of `taskmaster ctl` command lines (commands, process names, signals).
_taskmaster_live() {
    local line="${COMP_LINE:0:COMP_POINT}"
    if [[ " ${COMP_WORDS[*]:1:COMP_CWORD-1} " == *" ctl "* ]]; then
        local IFS=$'\n'
        COMPREPLY=($("${COMP_WORDS[0]}" __complete --line "$line" 2>/dev/null))
        local cur="${line##*[[:space:]]}"
        if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
            local prefix="${cur%"${cur##*:}"}" i
            for i in "${!COMPREPLY[@]}"; do
                COMPREPLY[i]="${COMPREPLY[i]#"$prefix"}"
            done
        fi
        return 0
    fi
    _taskmaster "$@"
}
complete -F _taskmaster_live -o bashdefault -o default taskmaster
"#;

const ZSH_LIVE: &str = r#"
# Live completion of `taskmaster ctl` command lines (commands, process names, signals).
_taskmaster_live() {
    if (( ${words[(I)ctl]} > 1 && ${words[(I)ctl]} < CURRENT )); then
        local -a cands
        cands=(${(f)"$(${words[1]} __complete --line "${(j: :)words[1,CURRENT]}" 2>/dev/null)"})
        compadd -U -Q -- $cands
        return
    fi
    _taskmaster "$@"
}
compdef _taskmaster_live taskmaster
"#;

const FISH_LIVE: &str = r#"
# Live completion of `taskmaster ctl` command lines (commands, process names, signals).
function __taskmaster_live
    taskmaster __complete --line (commandline -cp) 2>/dev/null
end
complete -c taskmaster -n '__fish_seen_subcommand_from ctl' -f -a '(__taskmaster_live)'
"#;

/// The candidates for the last word of `line` (a whole shell line up to the cursor), when it
/// is a `taskmaster ctl` line; nothing otherwise, or where a file name is expected.
pub fn candidates(line: &str) -> Vec<String> {
    let mut words = shell_words::split(line)
        .unwrap_or_else(|_| line.split_whitespace().map(str::to_string).collect());
    let cur = if line.ends_with(char::is_whitespace) || words.is_empty() {
        String::new()
    } else {
        words.pop().unwrap_or_default()
    };
    let Some(at) = words.iter().skip(1).position(|w| w == "ctl").map(|i| i + 1) else {
        return Vec::new();
    };
    let mut args = super::CtlArgs::default();
    let mut rest = words[at + 1..].iter();
    let mut cmd_words = Vec::new();
    while let Some(w) = rest.next() {
        match w.as_str() {
            "-s" | "--socket" | "-c" | "--config" => {
                let Some(value) = rest.next() else {
                    return Vec::new(); // the cursor is on a path: the shell completes files
                };
                let path = Some(PathBuf::from(value));
                if w.ends_with('s') || w == "--socket" {
                    args.socket = path;
                } else {
                    args.config = path;
                }
            }
            "--json" => args.json = true,
            _ => {
                cmd_words.push(w.clone());
                cmd_words.extend(rest.cloned());
                break;
            }
        }
    }
    if cmd_words.is_empty() && cur.starts_with('-') {
        return ["--config", "--help", "--json", "--socket"]
            .iter()
            .filter(|o| o.starts_with(&cur))
            .map(|o| o.to_string())
            .collect();
    }
    let names = process_names(&args);
    cmd_words.push(cur);
    let text = cmd_words.join(" ");
    command::complete(&text, text.len(), &names).candidates
}

/// The names Tab offers: the running taskmaster's processes, else the config's.
fn process_names(args: &super::CtlArgs) -> Vec<String> {
    let socket = ctl::socket_path(args.socket.clone(), args.config.clone());
    if let Ok(path) = &socket
        && let Ok(procs) = Client::new(path).processes()
    {
        return command::completion_names_of(&procs);
    }
    let Ok(path) = crate::config::find(args.config.as_deref()) else {
        return Vec::new();
    };
    let Ok(config) = crate::config::load(&path) else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    for prog in config.programs.values() {
        for name in prog.process_names() {
            pairs.push((name, prog.name.clone()));
        }
    }
    command::completion_names_of_pairs(&pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ctl_lines_are_completed_here() {
        assert!(candidates("taskmaster --no").is_empty(), "clap's part");
        assert!(
            candidates("taskmaster ctl -s ").is_empty(),
            "a path after -s is the shell's"
        );
        assert_eq!(candidates("taskmaster ctl --js"), ["--json"]);
    }

    #[test]
    fn commands_complete_without_any_taskmaster() {
        let c = candidates("taskmaster ctl -s /nonexistent/tm.sock -c /nonexistent.toml re");
        assert_eq!(c, ["reload", "reopen", "reread", "restart"]);
        let c = candidates("taskmaster ctl -s /nonexistent/tm.sock -c /nonexistent.toml signal TE");
        assert_eq!(c, ["TERM"]);
    }

    #[test]
    fn names_fall_back_to_the_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("t.toml");
        std::fs::write(
            &config,
            "[taskmaster]\nsocket = false\n[programs.sleeper]\ncmd = \"sleep 1\"\n\
             [programs.trio]\ncmd = \"sleep 1\"\nnumprocs = 3\n",
        )
        .expect("config written");
        let line = format!("taskmaster ctl -c {} stop ", config.display());
        let c = candidates(&format!("{line}sl"));
        assert_eq!(c, ["sleeper"], "no taskmaster answers: the config's names");
        let c = candidates(&format!("{line}trio_0"));
        assert_eq!(c, ["trio:trio_00", "trio:trio_01", "trio:trio_02"]);
    }

    #[test]
    fn every_script_has_the_live_part() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = String::from_utf8(script(shell)).expect("UTF-8");
            assert!(text.contains("__complete --line"), "{shell:?}: {text}");
        }
    }
}
