//! `GCP_TOKEN_AGENT_AUDIENCE`, 0.1.0's one variable for two meanings: the workload identity
//! provider (`--audience` as an alias of `--workload-identity-provider`) and the ID token's
//! audience (`print-identity-token --audience`). Each now has its own variable; the old one is
//! still read with the meaning it had for the subcommand, with a warning naming the new one,
//! except where it would silently mean the other thing.

use crate::{
    cli::{Cli, Command, SourceArgs},
    error::Error,
};

pub(super) const OLD: &str = "GCP_TOKEN_AGENT_AUDIENCE";
const PROVIDER: &str = "GCP_TOKEN_AGENT_WORKLOAD_IDENTITY_PROVIDER";
const ID_TOKEN_AUDIENCE: &str = "GCP_TOKEN_AGENT_ID_TOKEN_AUDIENCE";
/// Every workload identity provider's name starts so; no ID token audience a user means does.
const PROVIDER_PREFIX: &str = "//iam.googleapis.com/";

/// Reads `old` (the value of `GCP_TOKEN_AGENT_AUDIENCE`) into `cli` where no flag or new
/// variable gave the value, and records a warning either way.
pub(super) fn apply(cli: &mut Cli, old: Option<String>) -> Result<(), Error> {
    let Some(old) = old else { return Ok(()) };
    let warning = match &mut cli.command {
        Command::PrintIdentityToken(args) => id_token_audience(&mut args.audience, old)?,
        Command::PrintAccessToken(args) => provider(&args.source, &mut args.audience, old),
        Command::ExecCredential(args) => provider(&args.source, &mut args.audience, old),
        Command::Run(args) => provider(&args.source, &mut args.audience, old),
        Command::DockerCredential(args) => provider(&args.token.source, &mut args.token.audience, old),
        Command::GitCredential(args) => provider(&args.token.source, &mut args.token.audience, old),
        Command::Doctor(args) => {
            // doctor has no `--audience` alias: the provider goes to the flag itself.
            let mut alias = None;
            let warning = provider(&args.source, &mut alias, old);
            args.source.workload_identity_provider = args.source.workload_identity_provider.take().or(alias);
            warning
        }
        _ => return Ok(()),
    };
    cli.warnings.push(warning);
    Ok(())
}

fn provider(source: &SourceArgs, alias: &mut Option<String>, old: String) -> String {
    if alias.is_some() || source.workload_identity_provider.is_some() {
        return format!("{OLD} is ignored: --workload-identity-provider or {PROVIDER} is set");
    }
    *alias = Some(old);
    format!("{OLD} is read as the workload identity provider; it is deprecated: set {PROVIDER} instead")
}

fn id_token_audience(audience: &mut String, old: String) -> Result<String, Error> {
    if !audience.is_empty() {
        return Ok(format!("{OLD} is ignored: --audience or {ID_TOKEN_AUDIENCE} is set"));
    }
    if old.trim_start().starts_with(PROVIDER_PREFIX) {
        // Exported for the other subcommands' federation: as `aud` it would mint a token no
        // service accepts, so say what each variable means instead.
        return Err(Error::usage(
            "--audience",
            format!(
                "is not set, and {OLD} holds a workload identity provider: set the ID token's audience \
                 with --audience or {ID_TOKEN_AUDIENCE}, and the provider with {PROVIDER}"
            ),
        ));
    }
    *audience = old;
    Ok(format!("{OLD} is read as the ID token's audience; it is deprecated: set {ID_TOKEN_AUDIENCE} instead"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    const P: &str = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x";

    fn applied(args: &[&str], old: &str) -> (Result<(), Error>, Cli) {
        let mut cli = Cli::try_parse_from([&["gcp-token-agent"], args].concat()).expect("parses");
        (apply(&mut cli, Some(old.to_owned())), cli)
    }

    #[test]
    fn the_old_variable_is_the_provider_only_when_nothing_newer_names_one() {
        let (done, cli) = applied(&["exec-credential"], P);
        assert!(done.is_ok());
        let Command::ExecCredential(args) = &cli.command else { panic!("exec-credential") };
        assert_eq!(args.audience.as_deref(), Some(P));
        assert!(cli.warnings[0].contains(PROVIDER), "{:?}", cli.warnings);

        let (_, cli) = applied(&["run", "--workload-identity-provider", P], "//other");
        let Command::Run(args) = &cli.command else { panic!("run") };
        assert_eq!(
            (args.audience.as_deref(), args.source.workload_identity_provider.as_deref()),
            (None, Some(P))
        );
        assert!(cli.warnings[0].contains("is ignored"), "{:?}", cli.warnings);
    }

    #[test]
    fn the_old_variable_is_the_id_tokens_audience_unless_it_holds_a_provider() {
        let (_, cli) = applied(&["print-identity-token", "--audience", "https://flag"], "https://old");
        let Command::PrintIdentityToken(args) = &cli.command else { panic!("print-identity-token") };
        assert_eq!(args.audience, "https://flag");
        assert!(cli.warnings[0].contains("is ignored"), "{:?}", cli.warnings);

        let (done, _) = applied(&["print-identity-token"], P);
        assert!(done.is_err());
    }

    #[test]
    fn login_and_the_webhook_never_read_it() {
        let (done, cli) = applied(&["login", "--client-secrets", "c.json"], P);
        assert!(done.is_ok() && cli.warnings.is_empty());
    }
}
