//! What `ssh` and `rdp` do around a session: hold a temporary security-group
//! rule for it (`--open`), and explain a connection that failed.

use std::io::Write as _;

use ipnet::IpNet;

use super::request::Connect;
use crate::aws::Aws;
use crate::doctor::Report;
use crate::error::Error;
use crate::firewall::journal::{Journal, OpenRule};
use crate::firewall::{self, Opened};
use crate::model::host::Host;
use crate::plan::Via;
use crate::plan::route::BastionSearch;

use super::Context;
use super::diagnose::{Probe, examine, first_group};

/// A rule berth added for this session and must remove.
pub struct OpenedRule {
    journal: Journal,
    rule: OpenRule,
}

/// `--open`: lets `from` reach `port` through the host's first security
/// group until [`close`].
pub async fn open(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    from: Option<IpNet>,
    port: u16,
) -> Result<Option<OpenedRule>, Error> {
    let Some(cidr) = from else {
        return Err(Error::usage(
            "--open needs your address".to_owned(),
            "pass --from YOUR-ADDRESS/32, set `from` in the config file, or use --detect-ip"
                .to_owned(),
        ));
    };
    let group = first_group(host)?;
    let journal = ctx.journal()?;
    let opened = firewall::open(
        aws,
        &journal,
        &group,
        cidr,
        port,
        firewall::SESSION_LIMIT,
        true,
    )
    .await?;
    Ok(match opened {
        Opened::Added(rule) => {
            ctx.reporter.say(&format!(
                "opened tcp/{port} from {cidr} in {group} for this session"
            ));
            Some(OpenedRule {
                journal,
                rule: *rule,
            })
        }
        Opened::AlreadyAllowed => {
            ctx.reporter
                .say(&format!("{group} already allows tcp/{port} from {cidr}"));
            None
        }
    })
}

/// Removes the session's rule; a failure is reported, and left to the next
/// run's sweep.
pub async fn close(aws: &Aws, opened: Option<OpenedRule>) {
    let Some(OpenedRule { journal, rule }) = opened else {
        return;
    };
    // After a SIGHUP the terminal may be gone: say it if stderr is still
    // there, and never fail on it.
    let message = match firewall::close(aws, &journal, &rule).await {
        Ok(true) => format!(
            "berth: removed the temporary rule from {} ({} port {})",
            rule.group_id, rule.cidr, rule.port
        ),
        Ok(false) => format!(
            "berth: the temporary rule in {} was already gone",
            rule.group_id
        ),
        Err(e) => format!(
            "berth: warning: could not remove the temporary rule from {}: {e}; the next berth run (or `berth doctor --cleanup`) will",
            rule.group_id
        ),
    };
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// After a client failed to connect: run doctor's checks for the route it
/// took and print the failures and warnings on stderr.
pub async fn explain_failure(
    ctx: &Context,
    aws: &Aws,
    host: &Host,
    connect: &Connect,
    mut probe: Probe,
) {
    // Through a bastion, the bastion's part of the route too.
    if probe.via == Via::Bastion {
        probe.bastion = super::diagnose::bastion(ctx, aws, connect, host)
            .await
            .unwrap_or(BastionSearch::NotNeeded);
    }
    ctx.reporter
        .say("the connection failed; checking the prerequisites…");
    match Box::pin(examine(ctx, aws, host, connect, &probe)).await {
        Ok(report) => {
            let problems: Vec<_> = report.problems().cloned().collect();
            if problems.is_empty() {
                ctx.reporter
                    .say("every prerequisite berth can see holds; see the client's message above");
            }
            let shown = Report {
                findings: problems,
                ..report
            };
            ctx.reporter
                .diagnosis(&shown, &probe.doctor_command(&connect.target));
        }
        Err(e) => ctx
            .reporter
            .say(&format!("could not check the prerequisites: {e}")),
    }
}
