//! The Session Manager route's checks: the agent registered and Online,
//! its version new enough for the session, a way from its subnet to
//! Session Manager (the internet, or VPC endpoints), the permission to
//! start a session, and the preferences' KMS key. Pure, like the rest of
//! doctor: the facts come in [`Facts`].

use super::{Facts, Finding, Lookup, Protocol, Route, Scope, SsmState, Status, Via, finding};
use crate::model::network::{
    AgentVersion, KmsAnswer, KmsKey, RouteTable, SessionKey, SsmAgent, VpcEndpoint,
};

/// The agent versions Session Manager's features need.
///
/// From the AWS Systems Manager User Guide, "Step 1: Complete Session
/// Manager prerequisites" (`session-manager-prerequisites.html`): any
/// session needs 2.3.68.0; KMS encryption 2.3.539.0; a port forwarding or
/// SSH session 3.0.222.0 (editions of that page before 2021 said
/// 2.3.672.0, the release that added the port plugin "for SSH/SCP").
pub const SHELL_MIN: &str = "2.3.68.0";
pub const KMS_MIN: &str = "2.3.539.0";
pub const PORT_MIN: &str = "3.0.222.0";
/// AWS-StartPortForwardingSessionToRemoteHost: 3.1.1374.0, as AWS announced
/// the document ("Use port forwarding in AWS Systems Manager Session
/// Manager to connect to remote hosts", AWS News, May 2022).
pub const REMOTE_HOST_MIN: &str = "3.1.1374.0";
/// Port sessions are multiplexed (smux) only with agents *after* this
/// version: session-manager-plugin's
/// `TCPMultiplexingSupportedAfterThisAgentVersion`; older agents carry
/// one connection per session.
pub const SMUX_AFTER: &str = "3.0.196.0";

/// The services the agent must reach: `com.amazonaws.REGION.NAME`.
pub const SERVICES: [&str; 3] = ["ssm", "ssmmessages", "ec2messages"];

/// Whether `version` is at least `min` (`None`: a version berth cannot
/// read).
pub fn at_least(version: &str, min: &str) -> Option<bool> {
    Some(AgentVersion::parse(version)? >= AgentVersion::parse(min)?)
}

/// Whether `version` is later than `than` (`None`: unreadable).
pub fn after(version: &str, than: &str) -> Option<bool> {
    Some(AgentVersion::parse(version)? > AgentVersion::parse(than)?)
}

/// The document a connection of `protocol` over Session Manager starts.
fn document(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Ssh => "AWS-StartSSHSession",
        Protocol::Rdp => "AWS-StartPortForwardingSession",
    }
}

/// Every check of the `ssm` route. Under `auto` a host with no agent
/// registered gets one line: the route is not there, and `--via ssm` says
/// how to make it.
pub fn route(facts: &Facts, out: &mut Vec<Finding>) {
    if facts.via != Via::Ssm && matches!(facts.ssm, Lookup::Known(SsmState::NotManaged)) {
        out.push(finding(
            "ssm-agent",
            scope(),
            Status::Skipped,
            format!(
                "not a managed instance (no SSM agent registered): `berth doctor {} --via ssm` \
                 says what it needs",
                facts.target
            ),
            vec![],
        ));
        return;
    }
    out.push(agent_check(facts));
    if let Lookup::Known(SsmState::Managed(agent)) = &facts.ssm {
        out.push(version_check(facts, agent));
    }
    out.push(network_check(facts));
    out.push(permission_check(facts));
    out.push(kms_check(facts));
}

fn scope() -> Scope {
    Scope::Route(Route::Ssm)
}

fn agent_check(facts: &Facts) -> Finding {
    let id = &facts.host.ec2.instance_id;
    let reach = "check that it reaches ssm, ssmmessages and ec2messages (the internet, a NAT \
                 gateway, or VPC endpoints: see ssm-endpoints)";
    match &facts.ssm {
        Lookup::Unavailable(why) => finding(
            "ssm-agent",
            scope(),
            Status::Unknown,
            format!("could not ask SSM: {why}"),
            vec![],
        ),
        Lookup::Known(SsmState::NotManaged) => finding(
            "ssm-agent",
            scope(),
            Status::Fail,
            "not registered with Systems Manager: no SSM agent has reported for it",
            vec![
                format!(
                    "give it an instance profile whose role has the AmazonSSMManagedInstanceCore \
                     policy: aws ec2 associate-iam-instance-profile --instance-id {id} \
                     --iam-instance-profile Name=PROFILE"
                ),
                "make sure the agent runs on it: sudo systemctl enable --now amazon-ssm-agent"
                    .to_owned(),
                reach.to_owned(),
            ],
        ),
        Lookup::Known(SsmState::Managed(agent)) if agent.online() => finding(
            "ssm-agent",
            scope(),
            Status::Pass,
            format!(
                "Online, agent {}",
                agent.agent_version.as_deref().unwrap_or("version unknown")
            ),
            vec![],
        ),
        Lookup::Known(SsmState::Managed(agent)) => finding(
            "ssm-agent",
            scope(),
            Status::Fail,
            format!(
                "{}, last seen {}: Session Manager cannot start a session on it",
                agent.ping_status,
                agent.last_ping.as_deref().unwrap_or("at an unknown time")
            ),
            vec![
                "on the instance (its console, or another route): sudo systemctl restart \
                 amazon-ssm-agent"
                    .to_owned(),
                format!(
                    "check that its instance profile still has AmazonSSMManagedInstanceCore \
                     (aws ec2 describe-iam-instance-profile-associations --filters \
                     Name=instance-id,Values={id}), and {reach}"
                ),
            ],
        ),
    }
}

/// The agent's version against what the session doctor checks needs, and
/// what else the version allows (tunnels to other hosts, several
/// connections per tunnel).
fn version_check(facts: &Facts, agent: &SsmAgent) -> Finding {
    let id = &facts.host.ec2.instance_id;
    let session = document(facts.protocol);
    let kms = matches!(&facts.session_kms, Lookup::Known(Some(_)));
    let mut needs = vec![(session, PORT_MIN)];
    if kms {
        needs.push(("KMS encryption", KMS_MIN));
    }
    let Some(version) = agent
        .agent_version
        .as_deref()
        .filter(|v| AgentVersion::parse(v).is_some())
    else {
        return finding(
            "ssm-agent-version",
            scope(),
            Status::Skipped,
            format!(
                "unknown: SSM reports no agent version it can read ({})",
                agent.agent_version.as_deref().unwrap_or("none")
            ),
            vec![format!(
                "{session} needs {PORT_MIN} or later; on the instance: amazon-ssm-agent --version"
            )],
        );
    };
    let update = format!(
        "update the agent: aws ssm send-command --document-name AWS-UpdateSSMAgent \
         --instance-ids {id}"
    );
    let short: Vec<String> = needs
        .iter()
        .filter(|(_, min)| at_least(version, min) == Some(false))
        .map(|(what, min)| format!("{what} needs {min} or later"))
        .collect();
    if !short.is_empty() {
        return finding(
            "ssm-agent-version",
            scope(),
            Status::Fail,
            format!("{version}: {}", short.join("; ")),
            vec![update],
        );
    }
    let mut limits = Vec::new();
    if at_least(version, REMOTE_HOST_MIN) == Some(false) {
        limits.push(format!(
            "tunnels to another host (AWS-StartPortForwardingSessionToRemoteHost) need \
             {REMOTE_HOST_MIN}"
        ));
    }
    if after(version, SMUX_AFTER) == Some(false) {
        limits.push(format!(
            "a tunnel carries one connection at a time (several need an agent after {SMUX_AFTER})"
        ));
    }
    let met = needs
        .iter()
        .map(|(what, min)| format!("{what} needs {min}"))
        .collect::<Vec<_>>()
        .join(", ");
    if limits.is_empty() {
        finding(
            "ssm-agent-version",
            scope(),
            Status::Pass,
            format!(
                "{version}: new enough ({met}; shells {SHELL_MIN}, tunnels to other hosts \
                 {REMOTE_HOST_MIN}, multiplexed tunnels after {SMUX_AFTER})"
            ),
            vec![],
        )
    } else {
        finding(
            "ssm-agent-version",
            scope(),
            Status::Warn,
            format!("{version}: new enough ({met}), but {}", limits.join("; ")),
            vec![update],
        )
    }
}

/// A way from the host's subnet to Session Manager: a default route to an
/// internet or NAT gateway, else interface endpoints for the three
/// services in the VPC.
fn network_check(facts: &Facts) -> Finding {
    let ec2 = &facts.host.ec2;
    let subnet = ec2.subnet_id.as_deref().unwrap_or("its subnet");
    let table = match &facts.route_table {
        Lookup::Unavailable(why) => {
            return finding(
                "ssm-endpoints",
                scope(),
                Status::Unknown,
                format!("could not read {subnet}'s route table: {why}"),
                vec![],
            );
        }
        Lookup::Known(None) => {
            return finding(
                "ssm-endpoints",
                scope(),
                Status::Unknown,
                format!("no route table applies to {subnet}"),
                vec![],
            );
        }
        Lookup::Known(Some(table)) => table,
    };
    if let Some(route) = table.outbound_route() {
        return finding(
            "ssm-endpoints",
            scope(),
            Status::Pass,
            format!(
                "{} sends 0.0.0.0/0 to {}: the agent reaches ssm, ssmmessages and ec2messages \
                 through it",
                table.id, route.target
            ),
            vec![],
        );
    }
    endpoints_finding(facts, table)
}

/// A subnet with no route out: the VPC's interface endpoints decide.
fn endpoints_finding(facts: &Facts, table: &RouteTable) -> Finding {
    let ec2 = &facts.host.ec2;
    let subnet = ec2.subnet_id.as_deref().unwrap_or("its subnet");
    let vpc = ec2.vpc_id.as_deref().unwrap_or("its VPC");
    let main = if table.main {
        ", the VPC's main table"
    } else {
        ""
    };
    let endpoints = match &facts.ssm_endpoints {
        Lookup::Unavailable(why) => {
            return finding(
                "ssm-endpoints",
                scope(),
                Status::Unknown,
                format!(
                    "{} ({subnet}{main}) has no route to the internet, and the VPC's endpoints \
                     could not be listed: {why}",
                    table.id
                ),
                vec![],
            );
        }
        Lookup::Known(endpoints) => endpoints,
    };
    let missing = missing_services(endpoints, facts.region);
    if missing.is_empty() {
        return finding(
            "ssm-endpoints",
            scope(),
            Status::Pass,
            format!(
                "{} ({subnet}{main}) has no route to the internet; {vpc} has interface \
                 endpoints for ssm, ssmmessages and ec2messages",
                table.id
            ),
            vec![],
        );
    }
    let group = ec2.security_groups.first().map_or("sg-…", String::as_str);
    let mut fix: Vec<String> = missing
        .iter()
        .map(|service| {
            format!(
                "aws ec2 create-vpc-endpoint --vpc-id {vpc} --vpc-endpoint-type Interface \
                 --service-name com.amazonaws.{}.{service} --subnet-ids {subnet} \
                 --security-group-ids {group} --private-dns-enabled",
                facts.region
            )
        })
        .collect();
    fix.push(format!(
        "(the endpoints' group must admit HTTPS, tcp/443, from {subnet}); or route 0.0.0.0/0 \
         to a NAT gateway: aws ec2 create-route --route-table-id {} --destination-cidr-block \
         0.0.0.0/0 --nat-gateway-id nat-…",
        table.id
    ));
    let online = matches!(&facts.ssm, Lookup::Known(SsmState::Managed(a)) if a.online());
    // An agent that is Online reaches Systems Manager somehow (a proxy, an
    // endpoint in a peered VPC): say what is missing, without blocking.
    let (status, consequence) = if online {
        (
            Status::Warn,
            "the agent is Online, so it goes some other way (a proxy?); sessions fail unless \
             that way reaches ssmmessages too",
        )
    } else {
        (Status::Fail, "the agent cannot reach Session Manager")
    };
    finding(
        "ssm-endpoints",
        scope(),
        status,
        format!(
            "{} ({subnet}{main}) has no route to the internet (no 0.0.0.0/0 to an internet or \
             NAT gateway), and {vpc} has no interface endpoint for {}: {consequence}",
            table.id,
            missing.join(", ")
        ),
        fix,
    )
}

/// The services of [`SERVICES`] without an interface endpoint that is
/// available (or still being made) in `endpoints`.
pub fn missing_services(endpoints: &[VpcEndpoint], region: &str) -> Vec<&'static str> {
    SERVICES
        .into_iter()
        .filter(|service| {
            let name = format!("com.amazonaws.{region}.{service}");
            !endpoints.iter().any(|e| {
                e.service_name == name
                    && e.endpoint_type.eq_ignore_ascii_case("interface")
                    && matches!(
                        e.state.to_ascii_lowercase().as_str(),
                        "available" | "pending" | "pendingacceptance"
                    )
            })
        })
        .collect()
}

/// ssm:StartSession cannot be checked without starting a session (there
/// is no dry run): say where the answer comes from.
fn permission_check(facts: &Facts) -> Finding {
    finding(
        "ssm-permission",
        scope(),
        Status::Skipped,
        format!(
            "ssm:StartSession on {} with {} is checked when a session starts (a refusal names \
             the permission, exit 5)",
            facts.host.ec2.instance_id,
            document(facts.protocol)
        ),
        vec![],
    )
}

/// The preferences' KMS key: shell and command sessions (`berth
/// session`) are encrypted with it, and the caller needs
/// kms:GenerateDataKey on it. KMS is asked (DescribeKey, and
/// GenerateDataKey as a dry run, which makes no key), never a policy
/// read. Port sessions (ssh, rdp, tunnels) are never encrypted
/// (`../shared/ssm-protocol.md` §6): a problem here warns and does not
/// block the route.
fn kms_check(facts: &Facts) -> Finding {
    let key = match &facts.session_kms {
        Lookup::Unavailable(why) => {
            return finding(
                "ssm-kms",
                scope(),
                Status::Unknown,
                format!("could not read the Session Manager preferences: {why}"),
                vec![format!(
                    "let your role read them: ssm:GetDocument on {}",
                    crate::model::network::PREFERENCES_DOCUMENT
                )],
            );
        }
        Lookup::Known(None) => {
            return finding(
                "ssm-kms",
                scope(),
                Status::Pass,
                "the Session Manager preferences do not ask for KMS encryption",
                vec![],
            );
        }
        Lookup::Known(Some(key)) => key,
    };
    let (status, evidence, fix) = kms_verdict(key);
    finding("ssm-kms", scope(), status, evidence, fix)
}

/// What shell sessions meet when the key does not serve.
const SHELLS_REFUSED: &str = "`berth session` and its commands would be refused (exit 5); ssh, rdp and tunnels are not \
     encrypted and do not need it";

/// The verdict on the preferences' key from what KMS answered.
fn kms_verdict(key: &SessionKey) -> (Status, String, Vec<String>) {
    let id = &key.id;
    let preferences = format!(
        "or name another key in the Session Manager preferences (Systems Manager console → \
         Session Manager → Preferences; the document {})",
        crate::model::network::PREFERENCES_DOCUMENT
    );
    let described = match &key.described {
        Lookup::Known(KmsAnswer::Found(k)) => Some(k),
        _ => None,
    };
    let arn = described.map_or(id.as_str(), |k| k.arn.as_str());
    if let Some(verdict) = described.and_then(|k| unusable(id, k, &preferences)) {
        return verdict;
    }
    let missing = |message: &str| {
        (
            Status::Warn,
            format!(
                "the Session Manager preferences encrypt sessions with KMS key {id}, which KMS \
                 does not know in this region ({message}): {SHELLS_REFUSED}"
            ),
            vec![format!(
                "check the key's id and region: aws kms list-aliases; {preferences}"
            )],
        )
    };
    if let Lookup::Known(KmsAnswer::NotFound(message)) = &key.described {
        return missing(message);
    }
    match &key.generate {
        Lookup::Known(KmsAnswer::Found(())) => (
            Status::Pass,
            format!(
                "the Session Manager preferences encrypt sessions with KMS key {id}{}: you may \
                 use it (kms:GenerateDataKey allowed, asked as a dry run that makes no key)",
                described.map_or_else(String::new, |k| format!(" ({})", k.arn))
            ),
            vec![],
        ),
        Lookup::Known(KmsAnswer::Denied(message)) => (
            Status::Warn,
            format!(
                "the Session Manager preferences encrypt sessions with KMS key {id}, and KMS \
                 denies you kms:GenerateDataKey on it ({message}): {SHELLS_REFUSED}"
            ),
            vec![format!(
                "ask for kms:GenerateDataKey on {arn}: in your role's policy (Action \
                 kms:GenerateDataKey, Resource {arn}) and, unless the key's policy delegates to \
                 IAM, in the key's policy"
            )],
        ),
        Lookup::Known(KmsAnswer::NotFound(message)) => missing(message),
        Lookup::Unavailable(why) => unverified(key, why),
    }
}

/// A key that KMS describes but that cannot encrypt a session: not
/// enabled, or not a symmetric encryption key.
fn unusable(id: &str, k: &KmsKey, preferences: &str) -> Option<(Status, String, Vec<String>)> {
    let arn = &k.arn;
    if k.state != "Enabled" {
        let mut fix = Vec::new();
        if k.state == "PendingDeletion" {
            fix.push(format!("aws kms cancel-key-deletion --key-id {arn}"));
        }
        if matches!(k.state.as_str(), "Disabled" | "PendingDeletion") {
            fix.push(format!("aws kms enable-key --key-id {arn}"));
        }
        fix.push(preferences.to_owned());
        return Some((
            Status::Warn,
            format!(
                "the Session Manager preferences encrypt sessions with KMS key {id} ({arn}), \
                 which is {}: {SHELLS_REFUSED}",
                k.state
            ),
            fix,
        ));
    }
    (k.usage != "ENCRYPT_DECRYPT" || k.spec != "SYMMETRIC_DEFAULT").then(|| {
        (
            Status::Warn,
            format!(
                "the Session Manager preferences encrypt sessions with KMS key {id} ({arn}), a \
                 {} key for {}: a session needs a symmetric encryption key (SYMMETRIC_DEFAULT, \
                 ENCRYPT_DECRYPT); {SHELLS_REFUSED}",
                k.spec, k.usage
            ),
            vec![format!(
                "create one (aws kms create-key --key-spec SYMMETRIC_DEFAULT --key-usage \
                 ENCRYPT_DECRYPT) and name it in the preferences: {preferences}"
            )],
        )
    })
}

/// The dry run failed for another reason than a refusal: whether the key
/// serves is not known.
fn unverified(key: &SessionKey, why: &str) -> (Status, String, Vec<String>) {
    let id = &key.id;
    let described = match &key.described {
        Lookup::Known(KmsAnswer::Found(k)) => format!("it exists ({}, {})", k.arn, k.state),
        Lookup::Known(KmsAnswer::Denied(_)) => {
            "you may not describe it (kms:DescribeKey denied)".to_owned()
        }
        Lookup::Known(KmsAnswer::NotFound(_)) => "KMS does not know it".to_owned(),
        Lookup::Unavailable(why) => format!("DescribeKey failed: {why}"),
    };
    (
        Status::Warn,
        format!(
            "the Session Manager preferences encrypt sessions with KMS key {id}; whether you may \
             use it is unverified: {described}, and the dry run of kms:GenerateDataKey failed: \
             {why}"
        ),
        vec![format!(
            "check that your role may use it: aws kms describe-key --key-id {id}; it needs \
             kms:GenerateDataKey on the key"
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_part_by_part_as_numbers() {
        let cases = [
            ("3.3.987.0", PORT_MIN, Some(true)),
            ("3.0.222.0", PORT_MIN, Some(true)),
            ("3.0.221.99", PORT_MIN, Some(false)),
            ("2.3.1319.0", PORT_MIN, Some(false)),
            // 10 > 9, not "1" < "9".
            ("3.10.0.0", "3.9.0.0", Some(true)),
            ("3.1.1374.0", REMOTE_HOST_MIN, Some(true)),
            ("3.1.1300.0", REMOTE_HOST_MIN, Some(false)),
            ("2.3.68.0", SHELL_MIN, Some(true)),
            ("", PORT_MIN, None),
            ("3.x.1.0", PORT_MIN, None),
        ];
        for (version, min, want) in cases {
            assert_eq!(at_least(version, min), want, "{version} >= {min}");
        }
        // Multiplexing: strictly after 3.0.196.0, as the plugin decides.
        assert_eq!(after(SMUX_AFTER, SMUX_AFTER), Some(false));
        assert_eq!(after("3.0.196.1", SMUX_AFTER), Some(true));
    }

    fn endpoint(service: &str, kind: &str, state: &str) -> VpcEndpoint {
        VpcEndpoint {
            id: format!("vpce-{service}"),
            service_name: format!("com.amazonaws.us-east-1.{service}"),
            endpoint_type: kind.to_owned(),
            state: state.to_owned(),
        }
    }

    #[test]
    fn only_usable_interface_endpoints_of_the_region_count() {
        let all = [
            endpoint("ssm", "Interface", "available"),
            endpoint("ssmmessages", "Interface", "pending"),
            endpoint("ec2messages", "Interface", "available"),
        ];
        assert!(missing_services(&all, "us-east-1").is_empty());
        assert_eq!(
            missing_services(&all, "eu-west-1"),
            vec!["ssm", "ssmmessages", "ec2messages"]
        );
        let some = [
            endpoint("ssm", "Interface", "available"),
            endpoint("ssmmessages", "Gateway", "available"),
            endpoint("ec2messages", "Interface", "deleted"),
        ];
        assert_eq!(
            missing_services(&some, "us-east-1"),
            vec!["ssmmessages", "ec2messages"]
        );
    }
}
