//! The docs are tested: docs/reference.md is the generator's output for today's flags, and every
//! `sh` block in README.md and docs/*.md runs as written against the local emulator, unless the
//! HTML comment just above it says why not (`<!-- not run: REASON -->`), that another test runs
//! it (`<!-- run by tests/it/release.rs -->`), or which installed tools it needs
//! (`<!-- needs: git -->`: run by the ignored test, which scripts/test.sh includes).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use gcp_token_agent_emulator::Emulator;

const REGENERATE: &str = "REGENERATE_REFERENCE=1 cargo test --test it docs_blocks::";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn docs_reference_md_lists_exactly_the_flags_the_binary_takes() {
    let path = root().join("docs/reference.md");
    let generated = gcp_token_agent::reference_markdown();
    if std::env::var_os("REGENERATE_REFERENCE").is_some() {
        std::fs::write(&path, &generated).expect("write docs/reference.md");
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/reference.md is out of date with the command line; regenerate it with: {REGENERATE}"
    );
}

/// How a block is to be treated, from the HTML comment on the line above it.
#[derive(Debug, PartialEq)]
enum Marker {
    Run,
    Needs(String),
    NotRun,
    Elsewhere,
}

/// A fenced `sh` block: where it is, its marker and its text.
struct Block {
    place: String,
    marker: Marker,
    text: String,
}

fn blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).expect("read doc");
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i] != "```sh" {
            i += 1;
            continue;
        }
        let above = lines[..i].iter().rev().find(|l| !l.trim().is_empty()).copied().unwrap_or("");
        let place = format!("{}:{}", path.strip_prefix(root()).unwrap_or(path).display(), i + 1);
        let marker = marker(above, &place);
        let end = lines[i + 1..].iter().position(|l| *l == "```").expect("a closed block") + i + 1;
        found.push(Block { place, marker, text: lines[i + 1..end].join("\n") });
        i = end + 1;
    }
    found
}

fn marker(above: &str, place: &str) -> Marker {
    let Some(comment) = above.trim().strip_prefix("<!--").and_then(|c| c.strip_suffix("-->")) else {
        return Marker::Run;
    };
    let comment = comment.trim();
    if let Some(reason) = comment.strip_prefix("not run:") {
        assert!(!reason.trim().is_empty(), "{place}: say why the block is not run");
        Marker::NotRun
    } else if let Some(tools) = comment.strip_prefix("needs:") {
        Marker::Needs(tools.trim().to_owned())
    } else if comment.starts_with("run by tests/") {
        Marker::Elsewhere
    } else {
        Marker::Run
    }
}

fn every_block() -> Vec<Block> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root().join("README.md"));
    docs.iter().flat_map(|p| blocks(p)).collect()
}

/// Runs `block` in bash (stopping at the first failure) in a fresh HOME, with the binary on
/// PATH and Application Default Credentials pointing at a key the emulator issued.
fn run_block(block: &Block) {
    let emulator = Emulator::start();
    let home = tempfile::tempdir().expect("temp HOME");
    let key = home.path().join("key.json");
    emulator.add_service_account("app@emulator-project.iam.gserviceaccount.com").write_to(&key).expect("key");
    let bin = home.path().join("bin");
    std::fs::create_dir(&bin).expect("bin/");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_gcp-token-agent"), bin.join("gcp-token-agent"))
        .expect("link");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{}", block.text))
        .current_dir(home.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("GOOGLE_APPLICATION_CREDENTIALS", &key)
        // Never reach Google: `run`'s numeric project id lookup goes to a closed port.
        .env("GCP_TOKEN_AGENT_RESOURCE_MANAGER_ENDPOINT", "http://127.0.0.1:1")
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "{} failed ({}):\n{}\nstdout:\n{}\nstderr:\n{}",
        block.place,
        output.status,
        block.text,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_shell_block_in_the_readme_and_docs_runs_or_says_why_not() {
    let all = every_block();
    let runnable: Vec<&Block> = all.iter().filter(|b| b.marker == Marker::Run).collect();
    for block in &runnable {
        run_block(block);
    }
    let count = |m: fn(&Marker) -> bool| all.iter().filter(|b| m(&b.marker)).count();
    println!(
        "shell blocks: {} run here, {} need installed tools, {} run by other tests, {} not run",
        runnable.len(),
        count(|m| matches!(m, Marker::Needs(_))),
        count(|m| *m == Marker::Elsewhere),
        count(|m| *m == Marker::NotRun),
    );
    assert!(runnable.len() >= 5, "the quick starts are runnable blocks; found {}", runnable.len());
}

#[test]
#[ignore = "needs git: scripts/setup/install-test-deps.sh"]
fn shell_blocks_that_need_installed_tools_run_with_them() {
    let all = every_block();
    let needing: Vec<&Block> = all.iter().filter(|b| matches!(b.marker, Marker::Needs(_))).collect();
    for block in &needing {
        run_block(block);
    }
    assert!(!needing.is_empty(), "the git helper's quick start needs git");
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter_map(|l| l.strip_prefix('#')).map(|h| slug(h.trim_start_matches('#'))).collect()
}

#[test]
fn every_relative_link_in_the_readme_and_docs_names_a_file_and_heading_that_exist() {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.extend([root().join("README.md"), root().join("bench/README.md"), root().join("SECURITY.md")]);
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).expect("read doc");
        for link in text.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
            if link.contains("://") || link.starts_with("mailto:") || link.contains(' ') {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((link, ""));
            let target = if file.is_empty() { doc.clone() } else { doc.parent().expect("dir").join(file) };
            checked += 1;
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", doc.display()));
            } else if !anchor.is_empty()
                && target.extension().is_some_and(|x| x == "md")
                && !anchors(&target).contains(&anchor.to_owned())
            {
                broken.push(format!("{}: {link} (no such heading)", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 20, "links were found ({checked})");
}
