//! `doctor`: checks a set-up and says, one line per finding, what is wrong and what to do.
//! Each family of checks is a module; this one runs them in the order a mint needs them.

mod credentials;
mod endpoints;
mod finding;
mod mint;
mod pod;
mod project;

use finding::{Finding, Level};

use crate::{
    config::DoctorConfig,
    credentials::{Env, Source},
    error::{Error, Result},
    exchange::{Http, RetryPolicy},
};

/// Runs every check; the report is the answer when nothing fails, else it comes with exit 1.
pub fn doctor(config: DoctorConfig, env: &Env) -> Result<String> {
    let mut findings = Vec::new();
    let loaded = credentials::check(&config.selection, env, &mut findings);
    if let Some(loaded) = &loaded {
        project::check(&loaded.source, &mut findings);
    }
    // One attempt per call: doctor reports what happens, it does not wait out an outage.
    let http = Http::new(RetryPolicy { attempts: 1, ..RetryPolicy::with_timeout(config.http_timeout) })?;
    super::block_on(|| async {
        // Whether the agent's API answered, when it is also the credential (then it is probed once).
        let mut probed = None;
        if let Some(loaded) = &loaded {
            let reached = endpoints::check(&http, &loaded.source, config.max_clock_skew, &mut findings).await;
            mint::check(&http, &loaded.source, &reached, &mut findings).await;
            if let Source::Metadata(server) = &loaded.source
                && env.gce_metadata_host.as_deref().map(str::trim) == Some(server.host.as_str())
            {
                probed = Some(!reached.unreachable);
            }
        }
        pod::agent_api(&http, env, probed, &mut findings).await;
    })?;
    if let Some(dir) = &config.token_dir {
        pod::token_files(dir, &mut findings);
    }
    report(&findings, config.json)
}

fn report(findings: &[Finding], json: bool) -> Result<String> {
    let report = if json { finding::json(findings) } else { finding::text(findings) };
    let failed = findings.iter().filter(|f| f.level == Level::Fail).count();
    match failed {
        0 => Ok(report),
        1 => Err(Error::Unhealthy { summary: "doctor: 1 check failed".into(), report }),
        n => Err(Error::Unhealthy { summary: format!("doctor: {n} checks failed"), report }),
    }
}
