use std::time::Duration;

use super::network::{AclEntry, NetworkAcl, Permission, RouteTable, SecurityGroup};
use super::*;
use crate::model::host::{Host, example_host};
use crate::model::network::Route as TableRoute;
use crate::model::network::{KmsAnswer, KmsKey};
use crate::model::os::OsFamily;
use crate::model::route::{Bastion, BastionMachine, BastionSource};

fn net(s: &str) -> IpNet {
    s.parse().expect("test CIDR")
}

fn ssh_group(cidr: &str) -> SecurityGroup {
    SecurityGroup {
        id: "sg-1".into(),
        name: "web".into(),
        ingress: vec![Permission {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            cidrs: vec![net(cidr)],
            ..Permission::default()
        }],
    }
}

fn open_acl() -> NetworkAcl {
    let all = |egress| AclEntry {
        rule_number: 100,
        egress,
        protocol: "-1".into(),
        from_port: None,
        to_port: None,
        cidr: net("0.0.0.0/0"),
        allow: true,
    };
    NetworkAcl {
        id: "acl-1".into(),
        entries: vec![all(false), all(true)],
    }
}

fn public_table() -> RouteTable {
    RouteTable {
        id: "rtb-1".into(),
        main: false,
        routes: vec![TableRoute {
            destination: "0.0.0.0/0".into(),
            target: "igw-1".into(),
            state: "active".into(),
        }],
    }
}

/// A host for which every check passes on the public route.
fn healthy(host: &Host) -> Facts<'_> {
    Facts {
        host,
        target: "prod/web-1",
        protocol: Protocol::Ssh,
        port: 22,
        from: Some(net("198.51.100.7/32")),
        via: Via::Auto,
        groups: Lookup::Known(vec![ssh_group("0.0.0.0/0")]),
        route_table: Lookup::Known(Some(public_table())),
        internet_gateway: Lookup::Known(Some("igw-1".into())),
        acl: Lookup::Known(Some(open_acl())),
        key_pair: Some(Lookup::Known(Some(KeyPairInfo {
            name: "prod".into(),
            fingerprint: Some("aa:bb".into()),
            key_type: Some("rsa".into()),
        }))),
        local_key: Ok(LocalKey {
            path: "/home/op/.ssh/prod.pem".into(),
            mode: Some(0o600),
            fingerprint: FingerprintCheck::Matches,
        }),
        ssm: Lookup::Known(SsmState::NotManaged),
        region: "us-east-1",
        ssm_endpoints: Lookup::Known(vec![]),
        session_kms: Lookup::Known(None),
        endpoints: Lookup::Known(vec![]),
        password: None,
        bastion: BastionSearch::NotNeeded,
    }
}

fn find<'r>(report: &'r Report, check: &str) -> &'r Finding {
    report
        .findings
        .iter()
        .find(|f| f.check == check)
        .unwrap_or_else(|| panic!("no {check} finding in {:#?}", report.findings))
}

fn works(report: &Report) -> Vec<Route> {
    report.working_routes().collect()
}

#[test]
fn a_healthy_public_host_has_one_working_route() {
    let host = example_host();
    let report = diagnose(&healthy(&host));
    assert_eq!(works(&report), vec![Route::Public]);
    assert_eq!(report.exit_code(), 0);
    assert!(
        report.findings.iter().all(|f| f.status != Status::Fail),
        "{:#?}",
        report.findings
    );
    // Private is not assumed without --via private.
    assert_eq!(find(&report, "private-address").status, Status::Skipped);
}

/// Each case breaks one fact and names the check that must fail, a piece of
/// its evidence and a piece of its fix.
#[test]
#[allow(clippy::too_many_lines)] // a table
fn each_broken_prerequisite_is_named_with_its_fix() {
    type Break = (fn(&mut Host), fn(&mut Facts));
    let cases: Vec<(&str, Break, &str, &str, &str)> = vec![
        (
            "stopped",
            (|h| h.ec2.state = "stopped".into(), |_| {}),
            "instance-state",
            "stopped",
            "aws ec2 start-instances --instance-ids i-0123456789abcdef0",
        ),
        (
            "no public address",
            (
                |h| {
                    h.ec2.public_ip = None;
                    h.ec2.public_dns = None;
                },
                |_| {},
            ),
            "public-address",
            "no public IPv4",
            "--via private",
        ),
        (
            "no internet gateway route",
            (
                |_| {},
                |f| {
                    f.route_table = Lookup::Known(Some(RouteTable {
                        id: "rtb-2".into(),
                        main: true,
                        routes: vec![],
                    }));
                },
            ),
            "internet-gateway",
            "rtb-2",
            "aws ec2 create-route --route-table-id rtb-2 --destination-cidr-block 0.0.0.0/0 --gateway-id igw-1",
        ),
        (
            "group open to another CIDR",
            (
                |_| {},
                |f| f.groups = Lookup::Known(vec![ssh_group("203.0.113.0/24")]),
            ),
            "security-group",
            "only from 203.0.113.0/24, not from 198.51.100.7/32",
            "--open --from 198.51.100.7/32",
        ),
        (
            "group open to a group only",
            (
                |_| {},
                |f| {
                    f.groups = Lookup::Known(vec![SecurityGroup {
                        id: "sg-1".into(),
                        name: "web".into(),
                        ingress: vec![Permission {
                            protocol: "tcp".into(),
                            from_port: Some(22),
                            to_port: Some(22),
                            groups: vec!["sg-bastion".into()],
                            ..Permission::default()
                        }],
                    }]);
                },
            ),
            "security-group",
            "group sg-bastion",
            "a bastion",
        ),
        (
            "ACL denies the port",
            (
                |_| {},
                |f| {
                    let mut acl = open_acl();
                    acl.entries.push(AclEntry {
                        rule_number: 50,
                        egress: false,
                        protocol: "6".into(),
                        from_port: Some(22),
                        to_port: Some(22),
                        cidr: net("0.0.0.0/0"),
                        allow: false,
                    });
                    f.acl = Lookup::Known(Some(acl));
                },
            ),
            "network-acl",
            "denies inbound tcp/22 by rule 50",
            "create-network-acl-entry --network-acl-id acl-1 --ingress --rule-number 49",
        ),
        // (On an AMI that ships ec2-instance-connect a one-time key stands
        // in: see one_time_keys_stand_in_for_a_missing_key.)
        (
            "no key pair",
            (
                |h| {
                    h.ec2.key_name = None;
                    h.os = OsFamily::Debian;
                },
                |f| f.key_pair = None,
            ),
            "key-pair",
            "without a key pair",
            "aws ssm start-session --target i-0123456789abcdef0",
        ),
        (
            "no local key",
            (
                |h| h.os = OsFamily::Debian,
                |f| f.local_key = Err(vec!["/home/op/.ssh/prod.pem".into()]),
            ),
            "local-key",
            "looked in /home/op/.ssh/prod.pem",
            "-i PATH",
        ),
        (
            "wrong local key",
            (
                |_| {},
                |f| {
                    f.local_key = Ok(LocalKey {
                        path: "/home/op/.ssh/prod.pem".into(),
                        mode: Some(0o600),
                        fingerprint: FingerprintCheck::Differs {
                            local: "cc:dd".into(),
                        },
                    });
                },
            ),
            "key-fingerprint",
            "fingerprint cc:dd differs from EC2's aa:bb",
            "-i PATH",
        ),
        (
            "key readable by others",
            (
                |_| {},
                |f| {
                    f.local_key = Ok(LocalKey {
                        path: "/home/op/.ssh/prod.pem".into(),
                        mode: Some(0o644),
                        fingerprint: FingerprintCheck::Matches,
                    });
                },
            ),
            "key-permissions",
            "mode 0644",
            "chmod 600 /home/op/.ssh/prod.pem",
        ),
    ];
    for (name, (break_host, break_facts), check, evidence, fix) in cases {
        let mut host = example_host();
        break_host(&mut host);
        let mut facts = healthy(&host);
        break_facts(&mut facts);
        let report = diagnose(&facts);
        let f = find(&report, check);
        assert_eq!(f.status, Status::Fail, "{name}: {f:#?}");
        assert!(
            f.evidence.contains(evidence),
            "{name}: evidence {:?}",
            f.evidence
        );
        assert!(
            f.fix.iter().any(|l| l.contains(fix)),
            "{name}: fix {:?}",
            f.fix
        );
        assert_eq!(report.exit_code(), 4, "{name}: {:#?}", report.routes);
    }
}

#[test]
fn one_time_keys_stand_in_for_a_missing_key() {
    let fix = "berth ssh prod/web-1 --via instance-connect";
    // No key pair, on an AMI that ships ec2-instance-connect: a warning,
    // and the route works (berth ssh pushes a one-time key).
    let mut host = example_host();
    host.ec2.key_name = None;
    let report = diagnose(&Facts {
        key_pair: None,
        ..healthy(&host)
    });
    let f = find(&report, "key-pair");
    assert_eq!(f.status, Status::Warn, "{f:#?}");
    assert!(f.evidence.contains("ships ec2-instance-connect"), "{f:#?}");
    assert!(f.fix[0].contains(fix), "{f:#?}");
    assert_eq!(report.exit_code(), 0);

    // No local file for the key pair: the same.
    let host = example_host();
    let report = diagnose(&Facts {
        local_key: Err(vec!["/home/op/.ssh/prod.pem".into()]),
        ..healthy(&host)
    });
    let f = find(&report, "local-key");
    assert_eq!(f.status, Status::Warn, "{f:#?}");
    assert!(f.fix[0].contains(fix), "{f:#?}");
    assert_eq!(report.exit_code(), 0);

    // Where the AMI lacks the package the key pair still decides, and the
    // fix mentions Instance Connect only as an if.
    let mut host = example_host();
    host.ec2.key_name = None;
    host.os = OsFamily::Flatcar;
    let report = diagnose(&Facts {
        key_pair: None,
        ..healthy(&host)
    });
    let f = find(&report, "key-pair");
    assert_eq!(f.status, Status::Fail, "{f:#?}");
    assert!(
        f.fix
            .iter()
            .any(|l| l.starts_with("or, if the instance has the ec2-instance-connect package")),
        "{f:#?}"
    );
    assert_eq!(report.exit_code(), 4);
}

#[test]
fn via_instance_connect_checks_the_package_not_the_key_pair() {
    let mut host = example_host();
    host.ec2.key_name = None;
    let facts = Facts {
        via: Via::InstanceConnect,
        key_pair: None,
        local_key: Err(vec![]),
        ..healthy(&host)
    };
    let report = diagnose(&facts);
    assert!(
        report
            .findings
            .iter()
            .all(|f| !f.check.starts_with("key") && f.check != "local-key"),
        "{:#?}",
        report.findings
    );
    let f = find(&report, "instance-connect");
    assert_eq!(f.status, Status::Pass, "{f:#?}");
    assert!(f.evidence.contains("ec2-instance-connect:SendSSHPublicKey"));
    assert_eq!(works(&report), vec![Route::Public]);

    host.os = OsFamily::Flatcar;
    let report = diagnose(&Facts {
        via: Via::InstanceConnect,
        key_pair: None,
        local_key: Err(vec![]),
        ..healthy(&host)
    });
    assert_eq!(find(&report, "instance-connect").status, Status::Warn);
}

#[test]
fn draining_and_a_lost_agent_warn_but_do_not_block() {
    let mut host = example_host();
    let ci = host
        .container_instance
        .as_mut()
        .expect("container instance");
    ci.status = "DRAINING".into();
    ci.agent_connected = false;
    let report = diagnose(&healthy(&host));
    assert_eq!(find(&report, "container-instance").status, Status::Warn);
    assert!(find(&report, "container-instance").fix[0].contains("--status ACTIVE"));
    assert_eq!(find(&report, "ecs-agent").status, Status::Warn);
    assert_eq!(report.exit_code(), 0);
}

#[test]
fn via_private_checks_only_the_private_route() {
    let mut host = example_host();
    host.ec2.public_ip = None;
    host.ec2.public_dns = None;
    let facts = Facts {
        via: Via::Private,
        ..healthy(&host)
    };
    let report = diagnose(&facts);
    assert_eq!(works(&report), vec![Route::Private]);
    assert!(report.findings.iter().all(|f| f.check != "public-address"));
    assert_eq!(
        find(&report, "security-group").scope,
        Scope::Route(Route::Private)
    );
}

#[test]
fn ssm_is_a_route_without_a_key() {
    let mut host = example_host();
    host.ec2.key_name = None;
    host.ec2.public_ip = None;
    host.ec2.public_dns = None;
    let facts = Facts {
        key_pair: None,
        ssm: agent("Online", Some("3.3.987.0")),
        ..healthy(&host)
    };
    let report = diagnose(&facts);
    assert_eq!(works(&report), vec![Route::Ssm]);
    assert_eq!(report.exit_code(), 0);
    // Nothing else works: auto takes it, as berth ssh would.
    assert_eq!(report.auto_takes, Some(Route::Ssm));
    for check in ["ssm-agent", "ssm-agent-version", "ssm-endpoints", "ssm-kms"] {
        assert_eq!(find(&report, check).status, Status::Pass, "{check}");
    }
    assert_eq!(find(&report, "ssm-permission").status, Status::Skipped);
    assert!(
        find(&report, "ssm-permission")
            .evidence
            .contains("ssm:StartSession on i-0123456789abcdef0 with AWS-StartSSHSession")
    );
}

fn agent(ping: &str, version: Option<&str>) -> Lookup<SsmState> {
    Lookup::Known(SsmState::Managed(crate::model::network::SsmAgent {
        ping_status: ping.into(),
        agent_version: version.map(Into::into),
        last_ping: Some("2026-12-07T17:58:03Z".into()),
    }))
}

/// Doctor's facts for `--via ssm` on a host in a subnet whose route table
/// sends nothing to the internet.
fn ssm_facts(host: &Host, ssm: Lookup<SsmState>) -> Facts<'_> {
    Facts {
        via: Via::Ssm,
        ssm,
        route_table: Lookup::Known(Some(RouteTable {
            id: "rtb-private".into(),
            main: true,
            routes: vec![TableRoute {
                destination: "10.0.0.0/16".into(),
                target: "local".into(),
                state: "active".into(),
            }],
        })),
        ..healthy(host)
    }
}

fn interface(service: &str) -> crate::model::network::VpcEndpoint {
    crate::model::network::VpcEndpoint {
        id: format!("vpce-{service}"),
        service_name: format!("com.amazonaws.us-east-1.{service}"),
        endpoint_type: "Interface".into(),
        state: "available".into(),
    }
}

#[test]
fn an_agent_that_lost_its_connection_says_when_it_was_last_seen() {
    let host = example_host();
    let report = diagnose(&Facts {
        ssm_endpoints: Lookup::Known(
            ["ssm", "ssmmessages", "ec2messages"]
                .map(interface)
                .to_vec(),
        ),
        ..ssm_facts(&host, agent("ConnectionLost", Some("3.3.987.0")))
    });
    let f = find(&report, "ssm-agent");
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.evidence
            .starts_with("ConnectionLost, last seen 2026-12-07T17:58:03Z"),
        "{f:?}"
    );
    assert!(
        f.fix[0].contains("systemctl restart amazon-ssm-agent"),
        "{f:?}"
    );
    assert_eq!(report.exit_code(), 4);
    assert_eq!(report.routes[0].blocked_by, Some("ssm-agent"));
    assert_eq!(find(&report, "ssm-endpoints").status, Status::Pass);
}

#[test]
fn an_unregistered_host_names_the_instance_profile() {
    let host = example_host();
    let report = diagnose(&ssm_facts(&host, Lookup::Known(SsmState::NotManaged)));
    let f = find(&report, "ssm-agent");
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.fix
            .iter()
            .any(|l| l.contains("AmazonSSMManagedInstanceCore")
                && l.contains("associate-iam-instance-profile --instance-id i-0123456789abcdef0")),
        "{f:?}"
    );
    // No version to check without an agent.
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.check != "ssm-agent-version")
    );
}

#[test]
fn a_private_subnet_needs_the_three_endpoints() {
    let host = example_host();
    // Not registered, no route out, no endpoints: the way is the finding.
    let report = diagnose(&ssm_facts(&host, Lookup::Known(SsmState::NotManaged)));
    let f = find(&report, "ssm-endpoints");
    assert_eq!(f.status, Status::Fail, "{f:?}");
    assert!(
        f.evidence.contains("rtb-private")
            && f.evidence.contains("the VPC's main table")
            && f.evidence
                .contains("no interface endpoint for ssm, ssmmessages, ec2messages"),
        "{f:?}"
    );
    for service in ["ssm", "ssmmessages", "ec2messages"] {
        assert!(
            f.fix.iter().any(|l| l.contains(&format!(
                "--vpc-endpoint-type Interface --service-name com.amazonaws.us-east-1.{service} "
            ))),
            "{service}: {f:?}"
        );
    }
    // Two of three: the missing one is named.
    let report = diagnose(&Facts {
        ssm_endpoints: Lookup::Known(vec![interface("ssm"), interface("ec2messages")]),
        ..ssm_facts(&host, agent("Online", Some("3.3.987.0")))
    });
    let f = find(&report, "ssm-endpoints");
    // The agent is Online, so it gets out some way: a warning.
    assert_eq!(f.status, Status::Warn, "{f:?}");
    assert!(
        f.evidence
            .contains("no interface endpoint for ssmmessages:"),
        "{f:?}"
    );
    assert_eq!(f.fix.len(), 2, "{f:?}");
    // All three: passes.
    let report = diagnose(&Facts {
        ssm_endpoints: Lookup::Known(
            ["ssm", "ssmmessages", "ec2messages"]
                .map(interface)
                .to_vec(),
        ),
        ..ssm_facts(&host, agent("Online", Some("3.3.987.0")))
    });
    assert_eq!(find(&report, "ssm-endpoints").status, Status::Pass);
    assert_eq!(works(&report), vec![Route::Ssm]);
    // A NAT gateway is a way out as good as an internet gateway.
    let nat = Facts {
        route_table: Lookup::Known(Some(RouteTable {
            id: "rtb-nat".into(),
            main: false,
            routes: vec![TableRoute {
                destination: "0.0.0.0/0".into(),
                target: "nat-0abc".into(),
                state: "active".into(),
            }],
        })),
        ..ssm_facts(&host, agent("Online", Some("3.3.987.0")))
    };
    let f = diagnose(&nat);
    let f = find(&f, "ssm-endpoints");
    assert_eq!(f.status, Status::Pass);
    assert!(f.evidence.contains("sends 0.0.0.0/0 to nat-0abc"), "{f:?}");
}

#[test]
fn a_denied_call_leaves_the_ssm_route_unverified_not_failed() {
    let host = example_host();
    let denied = "ec2:DescribeVpcEndpoints: UnauthorizedOperation: no".to_owned();
    let report = diagnose(&Facts {
        ssm_endpoints: Lookup::Unavailable(denied),
        ..ssm_facts(&host, agent("Online", Some("3.3.987.0")))
    });
    let f = find(&report, "ssm-endpoints");
    assert_eq!(f.status, Status::Unknown, "{f:?}");
    assert_eq!(report.routes[0].unverified_by, Some("ssm-endpoints"));
    assert_eq!(report.routes[0].blocked_by, None);
    let report = diagnose(&Facts {
        session_kms: Lookup::Unavailable("ssm:GetDocument: AccessDeniedException: no".into()),
        ..ssm_facts(&host, agent("Online", Some("3.3.987.0")))
    });
    assert_eq!(find(&report, "ssm-kms").status, Status::Unknown);
}

#[test]
fn the_agent_version_is_checked_against_the_session_type() {
    let host = example_host();
    let with = |version: Option<&str>, kms: Option<&str>| {
        diagnose(&Facts {
            session_kms: Lookup::Known(kms.map(usable_key)),
            ..ssm_facts(&host, agent("Online", version))
        })
    };
    let old = with(Some("2.3.1319.0"), None);
    let f = find(&old, "ssm-agent-version");
    assert_eq!(f.status, Status::Fail);
    assert_eq!(
        f.evidence,
        "2.3.1319.0: AWS-StartSSHSession needs 3.0.222.0 or later"
    );
    assert!(f.fix[0].contains("AWS-UpdateSSMAgent"), "{f:?}");
    // New enough for ssh, too old for tunnels to other hosts and smux.
    let f = with(Some("3.0.222.0"), None);
    let f = find(&f, "ssm-agent-version");
    assert_eq!(f.status, Status::Warn, "{f:?}");
    assert!(f.evidence.contains("need 3.1.1374.0"), "{f:?}");
    // KMS preferences name the key and the permission.
    let report = with(Some("3.3.987.0"), Some("alias/sessions"));
    let kms = find(&report, "ssm-kms");
    assert_eq!(kms.status, Status::Pass);
    assert!(
        kms.evidence.contains("KMS key alias/sessions")
            && kms.evidence.contains("kms:GenerateDataKey allowed"),
        "{kms:?}"
    );
    // KMS encryption needs its own agent version.
    let f = with(Some("2.3.500.0"), Some("alias/sessions"));
    let f = find(&f, "ssm-agent-version");
    assert!(
        f.evidence.contains("KMS encryption needs 2.3.539.0"),
        "{f:?}"
    );
    // No version reported: said, not failed.
    let f = with(None, None);
    let f = find(&f, "ssm-agent-version");
    assert_eq!(f.status, Status::Skipped);
    assert!(f.evidence.starts_with("unknown"), "{f:?}");
}

#[test]
fn unknown_source_lists_what_is_allowed_and_the_route_is_unverified() {
    let host = example_host();
    let facts = Facts {
        from: None,
        groups: Lookup::Known(vec![ssh_group("203.0.113.0/24")]),
        ..healthy(&host)
    };
    let report = diagnose(&facts);
    let f = find(&report, "security-group");
    assert_eq!(f.status, Status::Unknown);
    assert!(f.evidence.contains("203.0.113.0/24"), "{}", f.evidence);
    assert!(f.fix[0].contains("--from"));
    let public = &report.routes[0];
    assert_eq!(public.route, Route::Public);
    assert!(!public.works && public.unverified, "{public:?}");
    // Undecided is not blocked: nothing failed.
    assert_eq!(public.blocked_by, None);
    assert_eq!(public.unverified_by, Some("security-group"));
    assert_eq!(report.exit_code(), 4);
}

/// The Instance Connect Endpoint of the tests below: in subnet 10.0.1.0/24
/// of VPC 10.0.0.0/16, in group sg-eice, connecting from its own address.
fn endpoint(subnet_cidr: Lookup<IpNet>, vpc_cidrs: Lookup<Vec<IpNet>>) -> Endpoint {
    Endpoint {
        id: "eice-0123".into(),
        subnet_id: "subnet-e".into(),
        security_groups: vec!["sg-eice".into()],
        preserve_client_ip: false,
        subnet_cidr,
        vpc_cidrs,
    }
}

fn known_endpoint() -> Endpoint {
    endpoint(
        Lookup::Known(net("10.0.1.0/24")),
        Lookup::Known(vec![net("10.0.0.0/16")]),
    )
}

/// The instance's group, admitting tcp/22 by one rule.
fn ssh_group_from(rule: Permission) -> SecurityGroup {
    SecurityGroup {
        id: "sg-1".into(),
        name: "web".into(),
        ingress: vec![Permission {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            ..rule
        }],
    }
}

fn by_cidr(cidr: &str) -> Permission {
    Permission {
        cidrs: vec![net(cidr)],
        ..Permission::default()
    }
}

/// `berth doctor --via eice` with these facts.
fn through_endpoint(host: &Host, rule: Permission, endpoint: Endpoint) -> Report {
    diagnose(&Facts {
        via: Via::Eice,
        groups: Lookup::Known(vec![ssh_group_from(rule)]),
        endpoints: Lookup::Known(vec![endpoint]),
        ..healthy(host)
    })
}

#[test]
fn a_rule_that_covers_the_endpoint_lets_its_route_work() {
    let host = example_host();
    let by_group = Permission {
        groups: vec!["sg-eice".into()],
        ..Permission::default()
    };
    // Its subnet's CIDR unknown, its VPC's CIDR still covers it.
    let only_vpc_known = endpoint(
        Lookup::Unavailable("UnauthorizedOperation".into()),
        Lookup::Known(vec![net("10.0.0.0/16")]),
    );
    let cases = [
        (
            "by the subnet's CIDR",
            by_cidr("10.0.1.0/24"),
            known_endpoint(),
        ),
        (
            "by the VPC's CIDR",
            by_cidr("10.0.0.0/16"),
            known_endpoint(),
        ),
        ("by a wider CIDR", by_cidr("10.0.0.0/8"), known_endpoint()),
        (
            "by the endpoint's group",
            by_group.clone(),
            known_endpoint(),
        ),
        (
            "by the VPC's CIDR, subnet unread",
            by_cidr("10.0.0.0/16"),
            only_vpc_known,
        ),
        (
            "by the endpoint's group, nothing read",
            by_group,
            endpoint(
                Lookup::Unavailable("UnauthorizedOperation".into()),
                Lookup::Unavailable("UnauthorizedOperation".into()),
            ),
        ),
    ];
    for (name, rule, endpoint) in cases {
        let report = through_endpoint(&host, rule, endpoint);
        assert_eq!(
            works(&report),
            vec![Route::Eice],
            "{name}: {:#?}",
            report.findings
        );
        assert_eq!(
            find(&report, "security-group").status,
            Status::Pass,
            "{name}"
        );
        assert!(report.routes[0].works, "{name}: {:?}", report.routes);
        assert_eq!(report.exit_code(), 0, "{name}");
    }
}

#[test]
fn no_rule_covering_the_endpoint_blocks_its_route() {
    let host = example_host();
    // Another subnet of the VPC, and an office network.
    for cidr in ["10.0.2.0/24", "203.0.113.0/24"] {
        let report = through_endpoint(&host, by_cidr(cidr), known_endpoint());
        let f = find(&report, "security-group");
        assert_eq!(f.status, Status::Fail, "{cidr}: {f:#?}");
        assert!(f.evidence.contains(cidr), "{}", f.evidence);
        assert!(
            f.fix[0].contains("--source-group sg-eice"),
            "{cidr}: {:?}",
            f.fix
        );
        let route = &report.routes[0];
        assert_eq!(route.blocked_by, Some("security-group"), "{cidr}");
        assert_eq!(route.unverified_by, None, "{cidr}");
        assert!(!route.works, "{cidr}: {route:?}");
        assert_eq!(report.exit_code(), 4);
    }
}

#[test]
fn a_fact_that_cannot_be_read_leaves_the_endpoint_route_unverified_not_blocked() {
    let host = example_host();
    let unread = endpoint(
        Lookup::Unavailable("ec2:DescribeSubnets: UnauthorizedOperation".into()),
        Lookup::Unavailable("ec2:DescribeVpcs: UnauthorizedOperation".into()),
    );
    let report = through_endpoint(&host, by_cidr("10.0.0.0/16"), unread);
    let f = find(&report, "security-group");
    assert_eq!(f.status, Status::Unknown, "{f:#?}");
    assert!(
        find(&report, "instance-connect-endpoint")
            .evidence
            .contains("UnauthorizedOperation"),
        "{:#?}",
        report.findings
    );
    let route = &report.routes[0];
    assert!(!route.works && route.unverified, "{route:?}");
    assert_eq!(route.blocked_by, None);
    assert_eq!(route.unverified_by, Some("security-group"));
    assert_eq!(report.exit_code(), 4);
}

#[test]
fn an_endpoint_that_preserves_the_client_address_needs_a_rule_for_the_operator() {
    let host = example_host();
    let preserving = Endpoint {
        preserve_client_ip: true,
        ..known_endpoint()
    };
    // healthy() connects from 198.51.100.7.
    let report = through_endpoint(&host, by_cidr("10.0.0.0/16"), preserving.clone());
    assert_eq!(report.routes[0].blocked_by, Some("security-group"));
    let report = through_endpoint(&host, by_cidr("198.51.100.0/24"), preserving.clone());
    assert_eq!(works(&report), vec![Route::Eice]);
    // Its group admits it either way.
    let by_group = Permission {
        groups: vec!["sg-eice".into()],
        ..Permission::default()
    };
    let report = through_endpoint(&host, by_group, preserving);
    assert_eq!(works(&report), vec![Route::Eice]);
}

#[test]
fn the_protocol_must_be_the_hosts() {
    let host = example_host(); // Ubuntu
    let report = diagnose(&Facts {
        protocol: Protocol::Rdp,
        port: 3389,
        ..healthy(&host)
    });
    let f = find(&report, "protocol");
    assert_eq!(f.status, Status::Fail);
    assert!(f.evidence.contains("has no RDP server"), "{}", f.evidence);
    assert_eq!(f.fix, vec!["berth ssh prod/web-1".to_owned()]);
    assert_eq!(report.exit_code(), 4);
}

#[test]
fn a_stopped_instance_has_no_agent_to_restart() {
    let mut host = example_host();
    host.ec2.state = "stopped".into();
    host.container_instance
        .as_mut()
        .expect("container instance")
        .agent_connected = false;
    let report = diagnose(&healthy(&host));
    let f = find(&report, "ecs-agent");
    assert_eq!(f.status, Status::Skipped);
    assert!(f.fix.is_empty());
}

#[test]
fn the_session_fix_keeps_a_non_default_port() {
    let host = example_host();
    let report = diagnose(&Facts {
        port: 2222,
        groups: Lookup::Known(vec![ssh_group("203.0.113.0/24")]),
        ..healthy(&host)
    });
    let f = find(&report, "security-group");
    assert!(
        f.fix[0].contains("berth ssh prod/web-1 -p 2222 --open --from 198.51.100.7/32"),
        "{:?}",
        f.fix
    );
}

#[test]
fn a_deleted_key_pair_warns_when_the_key_is_at_hand() {
    let host = example_host();
    let facts = Facts {
        key_pair: Some(Lookup::Known(None)),
        local_key: Ok(LocalKey {
            path: "/k.pem".into(),
            mode: Some(0o600),
            fingerprint: FingerprintCheck::Unchecked("nothing to compare with".into()),
        }),
        ..healthy(&host)
    };
    let report = diagnose(&facts);
    assert_eq!(find(&report, "key-pair-exists").status, Status::Warn);
    assert_eq!(report.exit_code(), 0);
}

fn windows(host: &mut Host) {
    host.ec2.platform = Some("windows".into());
    host.os = crate::model::os::OsFamily::Windows;
}

#[test]
fn windows_password_cases() {
    let mut host = example_host();
    windows(&mut host);
    let rdp = |password, key_type: &str| Facts {
        protocol: Protocol::Rdp,
        port: 3389,
        groups: Lookup::Known(vec![SecurityGroup {
            id: "sg-1".into(),
            name: "win".into(),
            ingress: vec![Permission {
                protocol: "tcp".into(),
                from_port: Some(3389),
                to_port: Some(3389),
                cidrs: vec![net("0.0.0.0/0")],
                ..Permission::default()
            }],
        }]),
        key_pair: Some(Lookup::Known(Some(KeyPairInfo {
            name: "prod".into(),
            fingerprint: None,
            key_type: Some(key_type.into()),
        }))),
        password: Some(Lookup::Known(password)),
        ..healthy(&host)
    };
    let ready = diagnose(&rdp(PasswordState::Available, "rsa"));
    assert_eq!(ready.exit_code(), 0, "{:#?}", ready.findings);

    let young = diagnose(&rdp(
        PasswordState::NotYet {
            since_launch: Some(Duration::from_secs(60)),
        },
        "rsa",
    ));
    let f = find(&young, "windows-password");
    assert_eq!(f.status, Status::Fail);
    assert!(f.evidence.contains("launched 1 min ago"), "{}", f.evidence);
    assert!(f.fix[0].contains("--wait"));
    assert_eq!(young.exit_code(), 4);

    let old = diagnose(&rdp(
        PasswordState::NotYet {
            since_launch: Some(Duration::from_secs(3 * 3600)),
        },
        "rsa",
    ));
    assert!(
        find(&old, "windows-password")
            .evidence
            .contains("3 h 0 min after launch")
    );

    let ed = diagnose(&rdp(PasswordState::Available, "ed25519"));
    let f = find(&ed, "windows-key-type");
    assert_eq!(f.status, Status::Fail);
    assert!(f.evidence.contains("RSA"), "{}", f.evidence);
    assert_eq!(ed.exit_code(), 4);
}

#[test]
fn through_a_bastion_its_group_or_its_address_must_be_let_in() {
    let mut host = example_host();
    host.ec2.public_ip = None;
    host.ec2.public_dns = None;
    let mut machine = example_host();
    machine.ec2.instance_id = "i-0b".into();
    machine.ec2.state = "running".into();
    machine.ec2.private_ip = Some("10.0.0.5".into());
    machine.ec2.security_groups = vec!["sg-bastion".into()];
    let bastion = Bastion {
        label: "i-0b (bastion)".into(),
        source: BastionSource::Flag,
        target: "prod/bastion".into(),
        machine: BastionMachine::Instance(Box::new(machine)),
    };
    let by_group = SecurityGroup {
        id: "sg-1".into(),
        name: "web".into(),
        ingress: vec![Permission {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            groups: vec!["sg-bastion".into()],
            ..Permission::default()
        }],
    };
    let cases = [
        ("by group", vec![by_group], Status::Pass),
        ("by address", vec![ssh_group("10.0.0.0/24")], Status::Pass),
        ("neither", vec![ssh_group("203.0.113.0/24")], Status::Fail),
    ];
    for (name, groups, want) in cases {
        let report = diagnose(&Facts {
            via: Via::Bastion,
            groups: Lookup::Known(groups),
            bastion: BastionSearch::Found(bastion.clone()),
            ..healthy(&host)
        });
        let f = report
            .findings
            .iter()
            .find(|f| f.check == "security-group" && f.scope == Scope::Route(Route::Bastion))
            .unwrap_or_else(|| panic!("{name}: no bastion finding"));
        assert_eq!(f.status, want, "{name}: {f:#?}");
        let works = report.working_routes().collect::<Vec<_>>();
        assert_eq!(
            works.contains(&Route::Bastion),
            want == Status::Pass,
            "{name}"
        );
        if want == Status::Fail {
            assert!(
                f.fix[0].contains("--source-group sg-bastion"),
                "{:?}",
                f.fix
            );
        }
    }
}

#[test]
fn a_bastion_outside_ec2_leaves_its_route_unverified_and_none_fails_it() {
    let host = example_host();
    let external = Bastion {
        label: "jump.example.com".into(),
        source: BastionSource::Config("clusters.prod.bastion".into()),
        target: "jump.example.com".into(),
        machine: BastionMachine::External("jump.example.com".into()),
    };
    let report = diagnose(&Facts {
        via: Via::Bastion,
        bastion: BastionSearch::Found(external),
        ..healthy(&host)
    });
    let f = find(&report, "bastion");
    assert_eq!(f.status, Status::Unknown);
    assert_eq!(
        f.evidence,
        "bastion jump.example.com (config `clusters.prod.bastion`) is not an EC2 instance \
         berth can look at"
    );
    assert!(report.working_routes().next().is_none());

    let report = diagnose(&Facts {
        via: Via::Bastion,
        bastion: BastionSearch::NoneIn {
            vpc_id: Some("vpc-1".into()),
        },
        ..healthy(&host)
    });
    let f = find(&report, "bastion");
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.evidence
            .contains("no running instance tagged berth:bastion in vpc-1"),
        "{}",
        f.evidence
    );
}

#[test]
fn a_more_specific_route_for_the_operator_decides() {
    let host = example_host();
    let mut table = public_table();
    table.routes.push(TableRoute {
        destination: "198.51.100.0/24".into(),
        target: "nat-1".into(),
        state: "active".into(),
    });
    let report = diagnose(&Facts {
        route_table: Lookup::Known(Some(table)),
        ..healthy(&host)
    });
    let f = find(&report, "internet-gateway");
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.evidence
            .contains("sends replies to 198.51.100.7/32 by 198.51.100.0/24 to nat-1"),
        "{}",
        f.evidence
    );
    assert_eq!(report.exit_code(), 4);
}

/// (case, DescribeKey, GenerateDataKey dry run, status, evidence has, fix has)
type KmsCase = (
    &'static str,
    Lookup<KmsAnswer<KmsKey>>,
    Lookup<KmsAnswer<()>>,
    Status,
    &'static str,
    &'static str,
);

const KEY_ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn described(state: &str, spec: &str, usage: &str) -> Lookup<KmsAnswer<KmsKey>> {
    Lookup::Known(KmsAnswer::Found(KmsKey {
        arn: KEY_ARN.to_owned(),
        state: state.to_owned(),
        usage: usage.to_owned(),
        spec: spec.to_owned(),
    }))
}

/// A key that exists, is enabled, and may be used.
fn usable_key(id: &str) -> SessionKey {
    SessionKey {
        id: id.to_owned(),
        described: described("Enabled", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        generate: Lookup::Known(KmsAnswer::Found(())),
    }
}

#[test]
#[allow(clippy::too_many_lines)] // a table of cases reads best in one piece
fn the_preferences_kms_key_is_checked_with_kms() {
    let host = example_host();
    let enabled = || described("Enabled", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT");
    let allowed = || Lookup::Known(KmsAnswer::Found(()));
    let denied = |what: &str| format!("AccessDeniedException: not authorized to perform {what}");
    // (case, DescribeKey, GenerateDataKey dry run, status, evidence has, fix has)
    let cases: Vec<KmsCase> = vec![
        (
            "usable",
            enabled(),
            allowed(),
            Status::Pass,
            "you may use it (kms:GenerateDataKey allowed, asked as a dry run",
            "",
        ),
        (
            "usable, though DescribeKey is denied",
            Lookup::Known(KmsAnswer::Denied(denied("kms:DescribeKey"))),
            allowed(),
            Status::Pass,
            "you may use it",
            "",
        ),
        (
            "GenerateDataKey denied",
            enabled(),
            Lookup::Known(KmsAnswer::Denied(denied("kms:GenerateDataKey"))),
            Status::Warn,
            "KMS denies you kms:GenerateDataKey on it (AccessDeniedException",
            "ask for kms:GenerateDataKey on arn:aws:kms:",
        ),
        (
            "no such key",
            Lookup::Known(KmsAnswer::NotFound(
                "NotFoundException: Alias is not found.".into(),
            )),
            Lookup::Known(KmsAnswer::NotFound(
                "NotFoundException: Alias is not found.".into(),
            )),
            Status::Warn,
            "which KMS does not know in this region (NotFoundException",
            "aws kms list-aliases",
        ),
        (
            "disabled",
            described("Disabled", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
            Lookup::Unavailable("kms:GenerateDataKey: DisabledException: disabled".into()),
            Status::Warn,
            "which is Disabled: `berth session` and its commands would be refused (exit 5)",
            "aws kms enable-key --key-id arn:aws:kms:",
        ),
        (
            "pending deletion",
            described("PendingDeletion", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
            Lookup::Unavailable("kms:GenerateDataKey: KMSInvalidStateException: x".into()),
            Status::Warn,
            "which is PendingDeletion",
            "aws kms cancel-key-deletion --key-id arn:aws:kms:",
        ),
        (
            "asymmetric",
            described("Enabled", "RSA_2048", "ENCRYPT_DECRYPT"),
            Lookup::Unavailable("kms:GenerateDataKey: InvalidKeyUsageException: x".into()),
            Status::Warn,
            "a RSA_2048 key for ENCRYPT_DECRYPT: a session needs a symmetric encryption key",
            "aws kms create-key --key-spec SYMMETRIC_DEFAULT",
        ),
        (
            "KMS unreachable",
            Lookup::Unavailable("kms:DescribeKey: cannot reach the AWS endpoint".into()),
            Lookup::Unavailable("kms:GenerateDataKey: cannot reach the AWS endpoint".into()),
            Status::Warn,
            "whether you may use it is unverified: DescribeKey failed: kms:DescribeKey: cannot \
             reach",
            "aws kms describe-key --key-id alias/sessions",
        ),
        (
            "both denied",
            Lookup::Known(KmsAnswer::Denied(denied("kms:DescribeKey"))),
            Lookup::Known(KmsAnswer::Denied(denied("kms:GenerateDataKey"))),
            Status::Warn,
            "KMS denies you kms:GenerateDataKey",
            "ask for kms:GenerateDataKey on alias/sessions",
        ),
    ];
    for (case, described, generate, status, evidence, fix) in cases {
        let report = diagnose(&Facts {
            session_kms: Lookup::Known(Some(SessionKey {
                id: "alias/sessions".to_owned(),
                described,
                generate,
            })),
            ..ssm_facts(&host, agent("Online", Some("3.3.987.0")))
        });
        let f = find(&report, "ssm-kms");
        assert_eq!(f.status, status, "{case}: {f:?}");
        assert!(f.evidence.contains(evidence), "{case}: {f:?}");
        if fix.is_empty() {
            assert!(f.fix.is_empty(), "{case}: {f:?}");
        } else {
            assert!(f.fix.iter().any(|x| x.contains(fix)), "{case}: {f:?}");
        }
        // Port sessions are never encrypted: the ssh route still works.
        assert!(report.routes[0].works, "{case}: {report:?}");
    }
}
