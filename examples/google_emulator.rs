//! Runs the test-support Google emulator (token endpoint + GCE metadata
//! server) as a standalone process, for benchmarks and manual experiments.
//!
//! ```text
//! cargo run --example google_emulator -- --write-key /tmp/sa.json
//! ```

// The same emulator the integration tests use (the `emulator/` crate), not a copy.
use gcp_token_agent_emulator as emulator;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use emulator::{Emulator, write_private_json};

const USAGE: &str = "usage: google_emulator [--listen ADDR] [--write-key PATH] \
[--write-authorized-user PATH] [--lifetime SECS]

  --listen ADDR                 socket address to bind (default 127.0.0.1:0)
  --write-key PATH              register demo@emulator-project.iam.gserviceaccount.com
                                and write its service-account key file (mode 0600)
  --write-authorized-user PATH  register a user and write its authorized_user file
  --lifetime SECS               expires_in of issued tokens (default 3600)

Prints `emulator listening on http://HOST:PORT` and serves until SIGINT/SIGTERM.";

const DEMO_ACCOUNT: &str = "demo@emulator-project.iam.gserviceaccount.com";
const DEMO_USER: &str = "demo-user@example.com";

/// Parsed command line.
struct Options {
    listen: SocketAddr,
    key_path: Option<PathBuf>,
    user_path: Option<PathBuf>,
    lifetime: Option<u64>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        key_path: None,
        user_path: None,
        lifetime: None,
    };
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => options.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--write-key" => options.key_path = Some(value()?.into()),
            "--write-authorized-user" => options.user_path = Some(value()?.into()),
            "--lifetime" => {
                let secs = value()?.parse().map_err(|e| format!("--lifetime: {e}"))?;
                options.lifetime = Some(secs);
            }
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    Ok(Some(options))
}

fn run(options: Options) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        // Handlers go in before the "listening" line: a script may signal
        // as soon as it reads that line.
        let shutdown = shutdown_signal()?;
        let emulator = Emulator::start_on(options.listen)?;
        if let Some(secs) = options.lifetime {
            emulator.set_token_lifetime(secs);
        }
        if let Some(path) = &options.key_path {
            emulator.add_service_account(DEMO_ACCOUNT).write_to(path)?;
        }
        if let Some(path) = &options.user_path {
            write_private_json(path, &emulator.add_authorized_user(DEMO_USER))?;
        }
        let mut stdout = std::io::stdout();
        writeln!(stdout, "emulator listening on {}", emulator.url())?;
        // Scripts block on this line, so it must not sit in a pipe buffer.
        stdout.flush()?;
        shutdown.await;
        Ok(())
    })
}

/// Registers SIGINT and SIGTERM handlers now; the future completes on either.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("google_emulator: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("google_emulator: {error}");
            ExitCode::FAILURE
        }
    }
}
