//! The release as a user installs it: one version named everywhere; the archive and its
//! checksums, SBOM and chart in dist/ (scripts/release/release.sh); the image and the chart pushed to a
//! real OCI registry on loopback (CNCF distribution, Debian's `docker-registry`) and installed
//! from there pinned by digest; `cargo install` from a path and from a git URL; and the
//! README's Install blocks, run as written with only the hosts swapped for local ones.
//!
//! All but the first are ignored under plain `cargo test` (they need the release, podman,
//! skopeo, helm and docker-registry); scripts/test.sh runs them with `--ignored`.

use crate::support;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use serde_json::Value;
use support::{
    oci::{Helm, Registry},
    podman::{VERSION, containers_conf, dist, ok, root, run},
};

const IMAGE_REF: &str = "ghcr.io/gcp-token-agent/gcp-token-agent";
const RELEASES: &str = "https://github.com/gcp-token-agent/gcp-token-agent/releases/download/v$VERSION";
const GIT_URL: &str = "https://github.com/gcp-token-agent/gcp-token-agent";
const TARGET: &str = "x86_64-unknown-linux-gnu";

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn one_version_is_named_by_the_crate_the_chart_the_manifests_the_readme_and_the_binary() {
    let chart = read("charts/gcp-token-agent/Chart.yaml");
    assert!(chart.lines().any(|l| l == format!("version: {VERSION}")), "Chart.yaml version");
    assert!(chart.lines().any(|l| l == format!("appVersion: \"{VERSION}\"")), "Chart.yaml appVersion");
    let lock = read("Cargo.lock");
    assert!(lock.contains(&format!("name = \"gcp-token-agent\"\nversion = \"{VERSION}\"\n")), "Cargo.lock");
    let mut tags = 0;
    for file in
        ["deploy/pod-native-sidecar.yaml", "deploy/job-oneshot.yaml", "deploy/webhook/deployment.yaml"]
    {
        let text = read(file);
        for (at, named) in text.match_indices(&format!("{IMAGE_REF}:")) {
            let tag: String = text[at + named.len()..].chars().take_while(|c| !c.is_whitespace()).collect();
            assert_eq!(tag, VERSION, "the image tag in {file}");
            tags += 1;
        }
    }
    assert!(tags >= 4, "deploy/ names the image {tags} times");
    let readme = read("README.md");
    let install = install_blocks(&readme);
    assert!(install[0].contains(&format!("VERSION={VERSION} ")), "the README's archive block");
    for block in &install[1..] {
        let named = block.matches(VERSION).count();
        assert!(
            named >= 1 && !block.contains("0.1.0"),
            "the README's Install block names {VERSION}:\n{block}"
        );
    }
    assert!(
        read("CHANGELOG.md").contains(&format!("\n## {VERSION}")),
        "CHANGELOG.md has a {VERSION} section"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_gcp-token-agent")).arg("--version").output().expect("run");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("gcp-token-agent {VERSION}"));
}

#[test]
fn release_sh_refuses_a_version_the_tree_does_not_name_and_bump_writes_it_everywhere() {
    let refused = run(Command::new("bash").arg(root().join("scripts/release/release.sh")).arg("9.8.7"));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(64), "{stderr}");
    let names = [
        "Cargo.toml: ",
        "Cargo.lock: ",
        "Chart.yaml (version): ",
        "Chart.yaml (appVersion): ",
        "deploy/ image tag: ",
        "README.md (Install): ",
    ];
    assert!(stderr.contains("CHANGELOG.md: no '## 9.8.7' section"), "{stderr}");
    for named in names {
        assert!(stderr.contains(&format!("{named}{VERSION}")), "names {named}:\n{stderr}");
    }
    assert!(stderr.contains("--bump 9.8.7"), "says how to set it:\n{stderr}");

    // --bump on a copy of the files that name the version.
    let copy = tempfile::tempdir().expect("temp dir");
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "charts/gcp-token-agent/Chart.yaml",
        "scripts/release/release.sh",
    ] {
        let to = copy.path().join(file);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(root().join(file), &to).expect("copy");
    }
    ok(Command::new("cp").arg("-r").arg(root().join("deploy")).arg(copy.path()));
    let bumped = run(Command::new("bash")
        .arg(copy.path().join("scripts/release/release.sh"))
        .args(["--bump", "9.8.7"]));
    let stderr = String::from_utf8_lossy(&bumped.stderr);
    assert!(bumped.status.success(), "{stderr}");
    assert_eq!(stderr.matches(": 9.8.7\n").count(), 6, "every place names 9.8.7:\n{stderr}");
    let readme = std::fs::read_to_string(copy.path().join("README.md")).expect("read");
    for block in install_blocks(&readme) {
        assert!(
            block.contains("9.8.7") && !block.contains(VERSION),
            "the Install block names 9.8.7:\n{block}"
        );
    }
    let deploy = std::fs::read_to_string(copy.path().join("deploy/webhook/deployment.yaml")).expect("read");
    assert_eq!(deploy.matches(&format!("{IMAGE_REF}:9.8.7")).count(), 2, "both image references");
    assert!(!deploy.contains(&format!("{IMAGE_REF}:{VERSION}")));
}

/// The fenced `sh` blocks of the README's Install section, in order: the archive, cargo,
/// the image, the chart.
fn install_blocks(readme: &str) -> Vec<String> {
    let start = readme.find("\n## Install\n").expect("an Install section");
    let section = &readme[start + 1..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |end| end + 1)];
    let blocks: Vec<String> = section
        .split("```sh\n")
        .skip(1)
        .map(|rest| rest.split("```").next().expect("a closed block").to_owned())
        .collect();
    assert_eq!(blocks.len(), 4, "archive, cargo, image and chart blocks:\n{section}");
    blocks
}

/// Runs a README block in bash (stop at the first failure), in `dir`, with `envs`.
fn bash(block: &str, dir: &Path, envs: &[(&str, &str)]) -> String {
    let script = format!("set -euo pipefail\n{block}");
    ok(Command::new("bash").arg("-c").arg(script).current_dir(dir).envs(envs.iter().copied()))
}

#[test]
#[ignore = "needs dist/ from scripts/release/release.sh; scripts/test.sh runs it"]
fn the_release_archive_installs_from_the_readme_and_holds_docs_completions_and_man_pages() {
    let name = format!("gcp-token-agent-{VERSION}-{TARGET}");
    let archive = dist(&format!("{name}.tar.gz"));
    let sums =
        ok(Command::new("sha256sum").arg("--check").arg("SHA256SUMS").current_dir(root().join("dist")));
    for file in [
        format!("{name}.tar.gz"),
        format!("{name}.cdx.json"),
        format!("gcp-token-agent-{VERSION}.tgz"),
        format!("gcp-token-agent-{VERSION}-image.tar"),
    ] {
        assert!(sums.contains(&format!("{file}: OK")), "SHA256SUMS covers {file}:\n{sums}");
    }
    let listing = ok(Command::new("tar").arg("-tzf").arg(&archive));
    for file in [
        "gcp-token-agent",
        "LICENSE",
        "README.md",
        "completions/gcp-token-agent.bash",
        "completions/_gcp-token-agent",
        "completions/gcp-token-agent.fish",
        "man/man1/gcp-token-agent.1",
        "man/man1/gcp-token-agent-run.1",
        "man/man1/gcp-token-agent-print-access-token.1",
    ] {
        assert!(listing.lines().any(|l| l == format!("{name}/{file}")), "{file} in the archive:\n{listing}");
    }

    // The README's block, with the release URL pointing at dist/ (curl reads file:// URLs).
    let home = tempfile::tempdir().expect("home");
    let block = install_blocks(&read("README.md"))[0]
        .replace(RELEASES, &format!("file://{}", root().join("dist").display()));
    let out = bash(&block, home.path(), &[("HOME", home.path().to_str().expect("utf8"))]);
    assert!(out.contains(&format!("{name}.tar.gz: OK")), "the checksum was checked:\n{out}");
    assert!(out.trim_end().ends_with(&format!("gcp-token-agent {VERSION}")), "{out}");
    let binary = home.path().join(".local/bin/gcp-token-agent");
    let page = std::fs::read_to_string(home.path().join(format!("{name}/man/man1/gcp-token-agent.1")))
        .expect("page");
    assert!(page.contains(".TH gcp-token-agent 1"), "a man page:\n{page}");

    // Auditable: the dependency list is in the binary, where scanners look for it.
    let sections = ok(Command::new("readelf").arg("--section-headers").arg(&binary));
    assert!(sections.contains(".dep-v0"), "cargo-auditable's section in the binary:\n{sections}");
    let sbom: Value =
        serde_json::from_str(&std::fs::read_to_string(dist(&format!("{name}.cdx.json"))).expect("sbom"))
            .expect("SBOM JSON");
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    let components = sbom["components"].as_array().expect("components");
    let has = |crate_name: &str| components.iter().any(|c| c["name"] == crate_name);
    assert!(has("tokio") && has("aws-lc-rs") && has("reqwest"), "the SBOM lists the binary's crates");
    assert!(!has("tempfile"), "dev-dependencies are not in the binary, nor in its SBOM");
}

#[test]
#[ignore = "needs dist/ from scripts/release/release.sh, podman, skopeo, helm and docker-registry; scripts/test.sh runs it"]
fn the_image_and_chart_install_from_an_oci_registry_pinned_by_the_pushed_digest() {
    let registry = Registry::start();
    let host = registry.host.clone();
    let work = tempfile::tempdir().expect("temp dir");
    let digest_file = work.path().join("digest");
    let archive = dist(&format!("gcp-token-agent-{VERSION}-image.tar"));
    ok(Command::new("skopeo")
        .args(["copy", "--quiet", "--dest-tls-verify=false", "--digestfile"])
        .arg(&digest_file)
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("docker://{host}/gcp-token-agent/gcp-token-agent:{VERSION}")));
    let digest = std::fs::read_to_string(&digest_file).expect("digest").trim().to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    let helm = Helm::new();
    let (_, pushed) = helm.ok(&[
        "push",
        dist(&format!("gcp-token-agent-{VERSION}.tgz")).to_str().expect("utf8"),
        &format!("oci://{host}/gcp-token-agent/charts"),
        "--plain-http",
    ]);
    assert!(pushed.contains(&format!("{host}/gcp-token-agent/charts/gcp-token-agent:{VERSION}")), "{pushed}");

    let inspect: Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{host}/gcp-token-agent/gcp-token-agent@{digest}"),
    ])))
    .expect("skopeo inspect JSON");
    assert_eq!(inspect["Digest"], digest.as_str());
    assert_eq!(inspect["Labels"]["org.opencontainers.image.version"], VERSION);

    // As a user installs: the chart from the registry, the image pinned by the pushed digest.
    let chart = format!("oci://{host}/gcp-token-agent/charts/gcp-token-agent");
    let (values, _) = helm.ok(&["show", "values", &chart, "--version", VERSION, "--plain-http"]);
    assert!(values.contains(&format!("repository: {IMAGE_REF}")), "{values}");
    let (rendered, _) = helm.ok(&[
        "template",
        "gcp-token-agent",
        &chart,
        "--version",
        VERSION,
        "--plain-http",
        "--namespace",
        "gcp-token-agent",
        "--set",
        &format!("image.repository={host}/gcp-token-agent/gcp-token-agent"),
        "--set",
        &format!("image.digest={digest}"),
    ]);
    let pinned = format!("{host}/gcp-token-agent/gcp-token-agent@{digest}");
    let images: Vec<&str> = rendered
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .map(|i| i.trim_matches('"'))
        .collect();
    assert!(!images.is_empty() && images.iter().all(|i| *i == pinned), "every image is {pinned}: {images:?}");
    assert!(rendered.contains(&format!("--agent-image={pinned}")), "the injected agent is pinned too");
    strict_schema_check(&rendered, work.path());

    // What the digest names runs, pulled from the registry into a store of its own, as on a
    // machine that never had the image (and nothing is left behind in podman's own store).
    let storage = work.path().join("storage.conf");
    let store = work.path().join("store");
    let conf = format!(
        "[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/graph\"\nrunroot = \"{0}/run\"\n",
        store.display()
    );
    std::fs::write(&storage, conf).expect("write storage.conf");
    let fresh = || {
        let mut command = support::podman::podman();
        command.env("CONTAINERS_STORAGE_CONF", &storage);
        command
    };
    let pulled = fresh().args(["pull", "--quiet", "--tls-verify=false", &pinned]).output().expect("podman");
    assert!(pulled.status.success(), "podman pull: {}", String::from_utf8_lossy(&pulled.stderr));
    let as_in_a_pod =
        ["run", "--rm", "--network=host", "--read-only", "--user=65532:65532", "--cap-drop=ALL"];
    let version = ok(fresh().args(as_in_a_pod).args([&pinned, "--version"]));
    assert_eq!(version.trim(), format!("gcp-token-agent {VERSION}"));

    // The README's image and chart blocks, with ghcr.io swapped for the loopback registry
    // (plain HTTP: a registries.conf for podman, flags for skopeo and helm) and `helm install`
    // for `helm template` (there is no cluster here).
    let readme = install_blocks(&read("README.md"));
    let blocks = format!("{}{}", readme[2], readme[3])
        .replace("ghcr.io", &host)
        .replace("\"$CHART\"", "\"$CHART\" --plain-http")
        .replace("skopeo inspect", "skopeo inspect --tls-verify=false")
        .replace("helm install", "helm template");
    let registries = work.path().join("registries.conf");
    std::fs::write(&registries, format!("[[registry]]\nlocation = \"{host}\"\ninsecure = true\n"))
        .expect("write");
    let mut envs = helm.envs();
    envs.push(("CONTAINERS_REGISTRIES_CONF".into(), registries.display().to_string()));
    envs.push(("CONTAINERS_CONF".into(), containers_conf().display().to_string()));
    envs.push(("CONTAINERS_STORAGE_CONF".into(), storage.display().to_string()));
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = bash(&blocks, work.path(), &envs);
    assert!(
        out.contains(&format!("gcp-token-agent {VERSION}\n{digest}\n")),
        "run, then the pushed digest {digest}:\n{out}"
    );
    assert!(
        out.contains(&format!("image: \"{IMAGE_REF}@{digest}\"")),
        "the chart renders the pinned image:\n{out}"
    );
}

/// `kubernetes-validate --strict` on every rendered object, for the chart's oldest Kubernetes
/// and the newest the validator knows (as scripts/check/validate-k8s.sh checks the chart in the tree).
fn strict_schema_check(rendered: &str, dir: &Path) {
    let file = dir.join("rendered.yaml");
    std::fs::write(&file, rendered).expect("write");
    let chart = read("charts/gcp-token-agent/Chart.yaml");
    let oldest = chart
        .lines()
        .find_map(|l| l.strip_prefix("kubeVersion: \">="))
        .map(|v| v.trim_end_matches("-0\"").to_owned())
        .expect("kubeVersion");
    let kinds = rendered.lines().filter(|l| l.starts_with("kind: ")).count();
    assert!(kinds >= 5, "the chart renders its objects:\n{rendered}");
    // The oldest version by -k; without -k, the newest schema the validator ships.
    for versions in [&["-k", oldest.as_str()][..], &[]] {
        let output = run(Command::new("kubernetes-validate").arg("--strict").args(versions).arg(&file));
        let out =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(
            output.status.success() && !out.contains("WARN") && !out.contains("ERROR"),
            "schema check:\n{out}"
        );
        assert_eq!(out.matches(" passed for resource ").count(), kinds, "every object checked:\n{out}");
    }
}

#[test]
#[ignore = "a release build per route (minutes); scripts/test.sh runs it"]
fn cargo_install_from_a_path_and_from_a_git_tag_gives_a_working_binary() {
    // The README's lines, the git URL swapped for a local bare clone tagged as a release.
    let block = &install_blocks(&read("README.md"))[1];
    let work = tempfile::tempdir().expect("temp dir");
    let bare = work.path().join("gcp-token-agent.git");
    ok(Command::new("git").args(["clone", "--quiet", "--bare"]).arg(root()).arg(&bare));
    ok(Command::new("git").arg("-C").arg(&bare).args(["tag", &format!("v{VERSION}"), "HEAD"]));
    // The tests' own target directory: dependencies already built for release are reused.
    let target = PathBuf::from(env!("CARGO_BIN_EXE_gcp-token-agent"));
    let target = target.ancestors().nth(2).expect("target dir");
    for (n, line) in block.lines().filter(|l| l.starts_with("cargo install")).enumerate() {
        let line = line.replace(GIT_URL, &format!("file://{}", bare.display()));
        let install_root = work.path().join(format!("root-{n}"));
        let started = Instant::now();
        bash(
            &line,
            root(),
            &[
                ("CARGO_INSTALL_ROOT", install_root.to_str().expect("utf8")),
                ("CARGO_TARGET_DIR", target.to_str().expect("utf8")),
            ],
        );
        eprintln!("{line}: {:.0?}", started.elapsed());
        let out = ok(Command::new(install_root.join("bin/gcp-token-agent")).arg("--version"));
        assert_eq!(out.trim(), format!("gcp-token-agent {VERSION}"), "{line}");
    }
}
