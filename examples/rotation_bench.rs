//! Measures how fast `gcp-token-agent run` follows a kubelet-style swap of the projected
//! Kubernetes token: from the `..data` rename to a new token in the output file, through STS
//! and IAM Credentials on the local emulator. Also reports the agent's idle RSS.
//!
//! ```text
//! bench/rotation.sh [SWAPS]      (builds in release, then runs this)
//! ```

use gcp_token_agent_emulator as emulator;

use std::{
    os::unix::fs::symlink,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use emulator::{Emulator, sts_principal};

const PROVIDER: &str =
    "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/pool/providers/k8s";
const SUB: &str = "system:serviceaccount:team-a:api";
const TARGET: &str = "target@emulator-project.iam.gserviceaccount.com";

fn project(dir: &Path, generation: u32, token: &str) {
    let stamp = dir.join(format!("..gen_{generation:06}"));
    std::fs::create_dir_all(&stamp).expect("mkdir");
    std::fs::write(stamp.join("token"), token).expect("write");
    let tmp = dir.join("..data_tmp");
    symlink(stamp.file_name().expect("name"), &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("swap");
    if !dir.join("token").exists() {
        symlink("..data/token", dir.join("token")).expect("symlink");
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let swaps: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(50);
    let agent_bin = std::env::args().nth(2).unwrap_or_else(|| "target/release/gcp-token-agent".to_owned());
    let emulator = Emulator::start();
    let issuer = emulator.add_oidc_issuer("https://kubernetes.default.svc.cluster.local");
    emulator.add_workload_provider(PROVIDER, &issuer);
    emulator.add_service_account(TARGET);
    emulator.grant_token_creator(TARGET, &sts_principal(PROVIDER, SUB));
    let work = tempfile::tempdir().expect("tempdir");
    let volume = work.path().join("projected");
    let out = work.path().join("out");
    std::fs::create_dir_all(&volume).expect("mkdir");
    std::fs::create_dir_all(&out).expect("mkdir");
    project(&volume, 0, &issuer.mint(SUB, PROVIDER, 3600));
    let mut agent = Command::new(&agent_bin)
        .args([
            "run",
            "--log-level",
            "warn",
            "--listen",
            "off",
            "--admin-listen",
            "off",
            "--audience",
            PROVIDER,
        ])
        .args([
            "--subject-token-file",
            volume.join("token").to_str().expect("utf8"),
            "--service-account",
            TARGET,
        ])
        .args([
            "--sts-endpoint",
            emulator.url(),
            "--iam-endpoint",
            emulator.url(),
            "--output-dir",
            out.to_str().expect("utf8"),
        ])
        .stdin(Stdio::null())
        .spawn()
        .expect("start the agent (the second argument; bench/rotation.sh builds and passes it)");
    let token_file = out.join("token");
    let read = || std::fs::read_to_string(&token_file).unwrap_or_default();
    let started = Instant::now();
    while read().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "the agent wrote no token");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_kib(agent.id());
    let mut latencies = Vec::new();
    for generation in 1..=swaps {
        let before = read();
        // A distinct lifetime per swap: two tokens minted in one second would otherwise be identical.
        let subject = issuer.mint(SUB, PROVIDER, 3600 - u64::from(generation));
        let swapped = Instant::now();
        project(&volume, generation, &subject);
        while read() == before {
            assert!(swapped.elapsed() < Duration::from_secs(10), "no new token after swap {generation}");
            std::thread::sleep(Duration::from_micros(500));
        }
        latencies.push(swapped.elapsed());
        std::thread::sleep(Duration::from_millis(150));
    }
    let busy = rss_kib(agent.id());
    let _ = agent.kill();
    let _ = agent.wait();
    latencies.sort();
    println!(
        "subject-token swap -> new token file ({swaps} swaps, STS + generateAccessToken on the local emulator):"
    );
    println!(
        "  p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies[latencies.len() - 1])
    );
    println!(
        "agent RSS: idle {:.1} MiB, after the swaps {:.1} MiB",
        idle as f64 / 1024.0,
        busy as f64 / 1024.0
    );
    println!(
        "STS exchanges: {}, generateAccessToken calls: {}",
        emulator.calls("sts"),
        emulator.calls("iam_access")
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
