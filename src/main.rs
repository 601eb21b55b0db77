//! The `gcp-token-agent` binary: parse, set up logs, dispatch, map errors to exit codes.

#![warn(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::{io::Write, process::ExitCode};

use gcp_token_agent::{
    ConfigureDockerConfig, DockerCredentialConfig, DoctorConfig, EXIT_USAGE, Env, Error, ExecConfig,
    GitCredentialConfig, LogSettings, LoginConfig, ParseError, PrintAccessConfig, PrintIdentityConfig,
    ProbeConfig, RunConfig, WebhookConfig, Workers,
    cli::{Cli, Command},
};

fn main() -> ExitCode {
    gcp_token_agent::harden_process();
    let cli = match gcp_token_agent::parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(ParseError::Clap(e)) => {
            // --help and --version are not errors, unless their text cannot be printed;
            // everything else is bad usage.
            let printed = e.print().is_ok();
            return match (e.use_stderr(), printed) {
                (true, _) => ExitCode::from(EXIT_USAGE),
                (false, true) => ExitCode::SUCCESS,
                (false, false) => ExitCode::FAILURE,
            };
        }
        Err(ParseError::Config(e)) => return fail(&e),
    };
    let default_level =
        if matches!(cli.command, Command::Run(_) | Command::Webhook(_)) { "info" } else { "warn" };
    if let Err(e) = gcp_token_agent::init_logging(&LogSettings::from(&cli.log), default_level) {
        return fail(&e);
    }
    for warning in &cli.warnings {
        tracing::warn!("{warning}");
    }
    for line in &cli.debug {
        tracing::debug!("{line}");
    }
    match dispatch(cli) {
        Ok(answer) => match gcp_token_agent::print_answer(&answer) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        Err(e) => fail(&e),
    }
}

/// Runs the subcommand and returns what goes to stdout.
fn dispatch(cli: Cli) -> Result<String, Error> {
    let env = Env::from_process();
    match &cli.command {
        Command::Run(args) => {
            let run = || async { gcp_token_agent::run(RunConfig::from_args(args)?, env).await };
            gcp_token_agent::serve(Workers::One, run)
        }
        Command::Webhook(args) => {
            let webhook = || async { gcp_token_agent::webhook(WebhookConfig::from_args(args)?).await };
            gcp_token_agent::serve(Workers::PerCore, webhook)
        }
        Command::WebhookProbe(args) => gcp_token_agent::webhook_probe(ProbeConfig::from_args(args)?),
        // The CLI faces build a runtime themselves, only when they go to the network.
        Command::PrintAccessToken(args) => {
            gcp_token_agent::print_access_token(&PrintAccessConfig::from_args(args)?, &env)
        }
        Command::PrintIdentityToken(args) => {
            gcp_token_agent::print_identity_token(&PrintIdentityConfig::from_args(args)?, &env)
        }
        Command::ExecCredential(args) => {
            gcp_token_agent::exec_credential(&ExecConfig::from_args(args, &env)?, &env)
        }
        Command::Login(args) => gcp_token_agent::login(&LoginConfig::from_args(args)?, &env),
        Command::DockerCredential(args) => {
            gcp_token_agent::docker_credential(&DockerCredentialConfig::from_args(args)?, &env)
        }
        Command::GitCredential(args) => {
            gcp_token_agent::git_credential(&GitCredentialConfig::from_args(args)?, &env)
        }
        Command::ConfigureDocker(args) => {
            gcp_token_agent::configure_docker(&ConfigureDockerConfig::from_args(args)?, &env)
        }
        Command::Doctor(args) => gcp_token_agent::doctor(DoctorConfig::from_args(args)?, &env),
        Command::Completions(args) => Ok(gcp_token_agent::completions(args.shell)),
        Command::Man(args) => gcp_token_agent::man_pages(args.out_dir.as_deref()),
    }
}

/// Reports on stderr; a stderr that cannot be written (`2>/dev/full`) loses the message,
/// never the exit code.
fn fail(error: &Error) -> ExitCode {
    if let Some(answer) = error.answer() {
        let _ = gcp_token_agent::print_answer(answer);
    }
    let _ = writeln!(std::io::stderr(), "gcp-token-agent: error: {error}");
    ExitCode::from(error.exit_code())
}
