//! Real clients nobody here wrote: Python google-auth and gcloud, run as child processes.

use std::process::{Command, Stdio};

/// `program` with a clean environment: only what finding and running it needs, so no
/// `GOOGLE_*`, `CLOUDSDK_*`, `GCE_*` or proxy setting of the machine reaches an interop test.
pub fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command.env_clear();
    for key in ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYENV_ROOT", "PYENV_VERSION"] {
        if let Some(value) = std::env::var_os(key) {
            command.env(key, value);
        }
    }
    command
}

/// Runs a Python snippet with `args` (sys.argv[1:]) and returns stdout; panics with stderr on failure.
pub fn python(script: &str, args: &[&str], envs: &[(&str, &str)]) -> String {
    let output = clean_command("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs (scripts/setup/install-test-deps.sh installs google-auth)");
    assert!(output.status.success(), "python failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A gcloud with its own fresh configuration directory, so no user state leaks in.
pub struct Gcloud {
    config: tempfile::TempDir,
}

impl Default for Gcloud {
    fn default() -> Self {
        Self::new()
    }
}

impl Gcloud {
    /// A fresh configuration with usage reporting and update checks off.
    pub fn new() -> Self {
        let gcloud = Self { config: tempfile::tempdir().expect("temp dir") };
        gcloud.ok(&["config", "set", "core/disable_usage_reporting", "true"], &[]);
        gcloud.ok(&["config", "set", "component_manager/disable_update_check", "true"], &[]);
        gcloud
    }

    /// Its configuration directory (`CLOUDSDK_CONFIG`).
    pub fn config_dir(&self) -> &std::path::Path {
        self.config.path()
    }

    /// Runs gcloud and returns what it did, success or not.
    pub fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
        clean_command("gcloud")
            .args(args)
            .arg("--quiet")
            .env("CLOUDSDK_CONFIG", self.config.path())
            .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
            .envs(envs.iter().copied())
            .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
            .stdin(Stdio::null())
            .output()
            .expect("gcloud runs (preinstalled on the CI machine)")
    }

    /// Runs gcloud and returns stdout; panics with stderr on failure.
    pub fn ok(&self, args: &[&str], envs: &[(&str, &str)]) -> String {
        let output = self.run(args, envs);
        assert!(
            output.status.success(),
            "gcloud {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}
