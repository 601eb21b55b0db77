//! The release in dist/ (scripts/release/release.sh) and podman, as the image and registry tests use
//! them: the image loaded from its archive once, containers that are removed when dropped.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::OnceLock,
};

/// The version every artifact carries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What these tests need and who makes it, for `#[ignore]` and for failures.
pub const NEEDS_RELEASE: &str =
    "needs dist/ from scripts/release/release.sh, podman and docker-registry; scripts/test.sh runs it";

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `dist/NAME`, which must exist.
pub fn dist(name: &str) -> PathBuf {
    let path = root().join("dist").join(name);
    assert!(path.exists(), "{} is missing: {NEEDS_RELEASE}", path.display());
    path
}

/// A containers.conf for the machines this runs on: runc (crun refuses their hybrid cgroup
/// set-up) and rlimits within the hard limits (podman's defaults exceed them). It changes how
/// podman runs containers here, not what runs in them.
pub fn containers_conf() -> &'static Path {
    static CONF: OnceLock<PathBuf> = OnceLock::new();
    CONF.get_or_init(|| {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("containers.conf");
        let conf = "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\n\
                    [engine]\nruntime = \"runc\"\n";
        std::fs::write(&path, conf).expect("write containers.conf");
        path
    })
}

/// `podman ARGS` with this machine's containers.conf.
pub fn podman() -> Command {
    let mut command = Command::new("podman");
    command.env("CONTAINERS_CONF", containers_conf()).stdin(Stdio::null());
    command
}

/// Runs `command`, panicking with its stderr unless it succeeds; its stdout.
#[track_caller]
pub fn ok(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e} ({NEEDS_RELEASE})"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `command` whatever its outcome.
pub fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e} ({NEEDS_RELEASE})"))
}

/// The image as a user gets it from the release: `podman load` of
/// dist/gcp-token-agent-VERSION-image.tar, once per test binary. Its ID.
pub fn image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let archive = dist(&format!("gcp-token-agent-{VERSION}-image.tar"));
        let loaded = ok(podman().arg("load").arg("--input").arg(&archive));
        let name = loaded
            .lines()
            .find_map(|line| line.strip_prefix("Loaded image: "))
            .unwrap_or_else(|| panic!("podman load named no image:\n{loaded}"))
            .trim()
            .to_owned();
        assert_eq!(name, format!("localhost/gcp-token-agent:{VERSION}"), "the archive's image name");
        ok(podman().args(["image", "inspect", "--format", "{{.Id}}", &name])).trim().to_owned()
    })
}

/// `podman run` as a pod would run the agent: read-only root file system, user 65532, no
/// capabilities, no new privileges, and the host's network (the metadata API listens on
/// loopback only, which published ports cannot reach).
pub fn run_as_in_a_pod() -> Command {
    let mut command = podman();
    command.args([
        "run",
        "--network=host",
        "--read-only",
        "--user=65532:65532",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
    ]);
    command
}

/// A container started detached; removed (killed first) when dropped.
pub struct Container {
    /// Its name.
    pub name: String,
}

impl Container {
    /// Starts `IMAGE ARGS` detached with `options` (volumes, variables) added to
    /// [`run_as_in_a_pod`]'s.
    pub fn start(options: &[String], args: &[&str]) -> Self {
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("gcp-token-agent-test-{}-{n}", std::process::id());
        let mut command = run_as_in_a_pod();
        command.args(["--detach", "--name", &name]).args(options).arg(image()).args(args);
        ok(&mut command);
        Self { name }
    }

    /// What the container wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        let output = run(podman().args(["logs", &self.name]));
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman().args(["rm", "--force", "--time", "0", &self.name]).output();
    }
}

/// A directory the container's user (65532) can read and, with `writable`, write into.
pub fn shared_dir(writable: bool) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let mode = if writable { 0o777 } else { 0o755 };
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).expect("chmod");
    dir
}

/// Writes `contents` to `dir/name`, readable by the container's user: test credentials made
/// for this test alone.
pub fn write_readable(dir: &Path, name: &str, contents: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    path
}
