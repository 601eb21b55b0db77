//! `completions` and `man`: shell completion scripts and man pages, generated from the
//! command line's own definition, so they list exactly the flags the binary takes.

use std::path::Path;

use clap::CommandFactory;

use super::Cli;
use crate::error::{Error, Result};

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> String {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "gcp-token-agent", &mut script);
    let script = String::from_utf8_lossy(&script);
    match shell {
        // clap_complete 4.6 spells a hyphenated binary's state two ways in bash: the loop
        // that reads the words says `gcp__token__agent__subcmd__run`, the `case` arms
        // `gcp__subcmd__token__subcmd__agent__subcmd__run`, so no subcommand's flags would
        // ever complete. The arms are respelled the loop's way.
        clap_complete::Shell::Bash => script.replace(BASH_ARM_PREFIX, BASH_STATE_PREFIX),
        _ => script.into_owned(),
    }
}

const BASH_ARM_PREFIX: &str = "gcp__subcmd__token__subcmd__agent";
const BASH_STATE_PREFIX: &str = "gcp__token__agent";

/// The top-level man page (roff); with `out_dir`, writes it and one page per subcommand
/// (`gcp-token-agent-run.1`, ...) there instead and returns their paths, one per line.
pub fn man_pages(out_dir: Option<&Path>) -> Result<String> {
    let command = Cli::command().disable_help_subcommand(true);
    let Some(dir) = out_dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut page)
            .map_err(|e| Error::Internal(format!("cannot render the man page: {e}")))?;
        return Ok(String::from_utf8_lossy(&page).into_owned());
    };
    if !dir.is_dir() {
        return Err(Error::usage("--out-dir", format!("{} is not a directory", dir.display())));
    }
    clap_mangen::generate_to(command, dir).map_err(|e| {
        Error::usage("--out-dir", format!("cannot write man pages to {}: {e}", dir.display()))
    })?;
    let mut written: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::usage("--out-dir", format!("cannot list {}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("gcp-token-agent"))
        })
        .map(|path| format!("{}\n", path.display()))
        .collect();
    written.sort();
    Ok(written.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_name_every_subcommand_and_its_flags() {
        let bash = completions(clap_complete::Shell::Bash);
        for word in ["print-access-token", "exec-credential", "--credentials", "--output-dir", "--id-token"] {
            assert!(bash.contains(word), "{word} missing from the bash completions");
        }
        let fish = completions(clap_complete::Shell::Fish);
        assert!(fish.contains("complete -c gcp-token-agent"), "{fish}");
    }

    #[test]
    fn man_pages_cover_the_tool_and_each_subcommand() {
        let page = man_pages(None).expect("page");
        assert!(page.starts_with(".ie") || page.contains(".TH gcp-token-agent 1"), "{page}");
        assert!(page.contains("print\\-access\\-token"), "{page}");
        let dir = tempfile::tempdir().expect("dir");
        let list = man_pages(Some(dir.path())).expect("pages");
        for name in ["gcp-token-agent.1", "gcp-token-agent-run.1", "gcp-token-agent-exec-credential.1"] {
            assert!(list.contains(name), "{name} not in {list}");
        }
        let run = std::fs::read_to_string(dir.path().join("gcp-token-agent-run.1")).expect("run page");
        assert!(run.contains("output\\-dir"), "the run page lists run's flags");
    }
}
