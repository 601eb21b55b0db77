//! Link-time choices for the binary.
//!
//! Packed relative relocations (`-z pack-relative-relocs`, DT_RELR): the binary's 28,000
//! relative relocations shrink from a 690 KB table, read and applied at every start, to a
//! 5 KB bitmap. That is start-up time for every `exec-credential` kubectl runs. It needs a
//! glibc that understands DT_RELR (2.36 or newer) where the binary runs, so it is used only
//! when building natively against such a glibc; `GCP_TOKEN_AGENT_NO_RELR=1` turns it off
//! (for a dynamic binary meant for an older system). The static PIE that
//! `scripts/release/build-release.sh` builds carries its own glibc, which applies the table wherever
//! the binary runs.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GCP_TOKEN_AGENT_NO_RELR");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let native = var("HOST") == var("TARGET");
    let linux_gnu = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if native && linux_gnu && var("GCP_TOKEN_AGENT_NO_RELR") != "1" && glibc_supports_relr() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// `getconf GNU_LIBC_VERSION` says e.g. "glibc 2.36"; DT_RELR came in 2.36.
fn glibc_supports_relr() -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else { return false };
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.trim().strip_prefix("glibc ").unwrap_or_default();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 36)
}
