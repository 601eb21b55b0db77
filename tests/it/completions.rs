//! `completions` and `man`, with the real consumers: bash completes subcommands, flags and
//! flag values from the generated script; groff renders the generated man pages.

use crate::support;

use std::process::Command;

use support::agent::Sandbox;

/// What bash's completion function offers for `words`, the last one being completed.
fn bash_completes(script: &str, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let (cur, prev) = (words[cword], words[cword - 1]);
    let program = format!(
        "source {script}\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\n_gcp__token__agent gcp-token-agent '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        quoted.join(" ")
    );
    let out = Command::new("bash").arg("-c").arg(program).output().expect("bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn bash_completes_subcommands_flags_and_values_from_the_generated_script() {
    let sandbox = Sandbox::new();
    let script = sandbox.write("gcp-token-agent.bash", sandbox.run(&["completions", "bash"]).ok());
    assert_eq!(bash_completes(&script, &["gcp-token-agent", "print-a"]), ["print-access-token"]);
    assert_eq!(bash_completes(&script, &["gcp-token-agent", "run", "--output-d"]), ["--output-dir"]);
    assert_eq!(
        bash_completes(&script, &["gcp-token-agent", "print-access-token", "--format", ""]),
        ["bare", "json"]
    );
    let exec = bash_completes(&script, &["gcp-token-agent", "exec-credential", "--"]);
    assert!(
        exec.contains(&"--credentials".to_owned()) && exec.contains(&"--from-file".to_owned()),
        "{exec:?}"
    );
}

#[test]
fn zsh_and_fish_scripts_are_generated_too() {
    let sandbox = Sandbox::new();
    assert!(sandbox.run(&["completions", "zsh"]).ok().starts_with("#compdef gcp-token-agent"));
    assert!(sandbox.run(&["completions", "fish"]).ok().contains("complete -c gcp-token-agent"));
    assert_eq!(sandbox.run(&["completions", "tcsh"]).code, 64, "an unknown shell is bad usage");
}

#[test]
#[ignore = "needs groff: scripts/setup/install-test-deps.sh"]
fn groff_renders_the_man_pages_for_the_tool_and_every_subcommand() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path("man1");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let listed = sandbox.run(&["man", "--out-dir", dir.to_str().expect("utf8")]);
    let pages: Vec<&str> = listed.ok().lines().collect();
    for name in ["gcp-token-agent.1", "gcp-token-agent-run.1", "gcp-token-agent-print-access-token.1"] {
        assert!(pages.iter().any(|p| p.ends_with(name)), "{name} not written: {pages:?}");
    }
    for page in pages {
        let out = Command::new("groff").args(["-man", "-Tutf8", "-ww", page]).output().expect("groff");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("gcp-token-agent"), "{page}");
    }
    let run = std::fs::read_to_string(dir.join("gcp-token-agent-run.1")).expect("run page");
    assert!(run.contains("output\\-dir") && run.contains("id\\-token"), "run's page lists run's flags");
    assert!(sandbox.run(&["man"]).ok().contains(".TH gcp-token-agent 1"));
    assert_eq!(sandbox.run(&["man", "--out-dir", "/nonexistent"]).code, 64);
}
