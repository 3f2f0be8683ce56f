//! The network facts doctor reads (security groups, network ACLs, route
//! tables) and how EC2 evaluates them, as pure functions.
//!
//! Security groups are stateful and allow-only: a connection is allowed
//! when any rule of any group on the instance matches. Network ACLs are
//! stateless and ordered: the lowest-numbered matching entry decides, and
//! a packet nothing matches is denied; replies leave through the outbound
//! entries to the client's ephemeral port.

use ipnet::IpNet;

pub use crate::model::network::{
    AclEntry, NetworkAcl, Permission, Route, RouteTable, SecurityGroup,
};

/// Where a connection comes from, for the rules to be checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The operator's address or network (`--from`, the config file, or
    /// `--detect-ip`).
    Cidr(IpNet),
    /// An Instance Connect Endpoint: in these security groups, connecting
    /// from an address in one of `networks` (its subnet's CIDR, else its
    /// VPC's CIDRs) or, with none known, from anywhere.
    Endpoint {
        groups: Vec<String>,
        networks: Vec<IpNet>,
    },
    /// One instance (a bastion): in these groups, at this address.
    Member { groups: Vec<String>, address: IpNet },
    /// Unknown: rules can be listed, not decided.
    Unknown,
}

/// What the instance's security groups say about a connection to a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupVerdict {
    /// A rule allows it: which group, and the rule in words.
    Allowed { group: String, rule: String },
    /// Only part of the source network is allowed.
    Partly { group: String, rule: String },
    /// Only prefix lists could allow it; their entries are not checked.
    Unverifiable { prefix_lists: Vec<String> },
    /// From an endpoint: only address rules could allow it, and whether
    /// they cover the address it connects from is not known here.
    Uncertain { cidrs: Vec<String> },
    /// Nothing allows it; the sources that are allowed, for the message.
    Denied { allowed: Vec<String> },
}

/// Evaluates `groups` for TCP `port` from `source`.
pub fn evaluate_groups(groups: &[SecurityGroup], port: u16, source: &Source) -> GroupVerdict {
    let mut allowed = Vec::new();
    let mut prefix_lists = Vec::new();
    let mut partly = None;
    let mut uncertain = Vec::new();
    for group in groups {
        for perm in group.ingress.iter().filter(|p| p.covers_tcp(port)) {
            let ports = perm.ports();
            for cidr in &perm.cidrs {
                let rule = format!("{ports} from {cidr}");
                match source {
                    Source::Cidr(from) | Source::Member { address: from, .. }
                        if cidr.contains(from) =>
                    {
                        return GroupVerdict::Allowed {
                            group: group.id.clone(),
                            rule,
                        };
                    }
                    Source::Cidr(from) if overlaps(cidr, from) => {
                        partly.get_or_insert((group.id.clone(), rule));
                    }
                    Source::Endpoint { networks, .. } => match admits(cidr, networks) {
                        Some(true) => {
                            return GroupVerdict::Allowed {
                                group: group.id.clone(),
                                rule,
                            };
                        }
                        Some(false) => allowed.push(cidr.to_string()),
                        None => uncertain.push(cidr.to_string()),
                    },
                    _ => allowed.push(cidr.to_string()),
                }
            }
            for source_group in &perm.groups {
                let rule = format!("{ports} from {source_group}");
                match source {
                    Source::Endpoint { groups: ours, .. } | Source::Member { groups: ours, .. }
                        if ours.contains(source_group) =>
                    {
                        return GroupVerdict::Allowed {
                            group: group.id.clone(),
                            rule,
                        };
                    }
                    _ => allowed.push(format!("group {source_group}")),
                }
            }
            prefix_lists.extend(perm.prefix_lists.iter().cloned());
        }
    }
    if let Some((group, rule)) = partly {
        return GroupVerdict::Partly { group, rule };
    }
    if !prefix_lists.is_empty() {
        return GroupVerdict::Unverifiable { prefix_lists };
    }
    if !uncertain.is_empty() {
        return GroupVerdict::Uncertain { cidrs: uncertain };
    }
    allowed.sort();
    allowed.dedup();
    GroupVerdict::Denied { allowed }
}

/// Whether a rule for `cidr` admits a source whose address lies in one of
/// `networks` (with none given, anywhere): `None` when that depends on
/// which address it is.
fn admits(cidr: &IpNet, networks: &[IpNet]) -> Option<bool> {
    if networks.is_empty() {
        // A rule for every address lets it in; a narrower one may.
        return (cidr.prefix_len() == 0).then_some(true);
    }
    if networks.iter().any(|n| !same_family(n, cidr)) {
        return None;
    }
    if networks.iter().all(|n| cidr.contains(n)) {
        return Some(true);
    }
    if networks.iter().all(|n| !overlaps(cidr, n)) {
        return Some(false);
    }
    None
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

/// What a network ACL says about a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclVerdict {
    Allowed,
    /// Denied by this entry (`None`: by the final implicit deny).
    Denied {
        direction: &'static str,
        ports: (u16, u16),
        rule: Option<i32>,
    },
    /// The outcome depends on the operator's address, which is unknown.
    DependsOnSource,
    /// Replies reach the ports today's clients use, but not all of
    /// 1024-65535 (some NAT devices and old clients use the low ones).
    RepliesLimited {
        ports: (u16, u16),
        rule: Option<i32>,
    },
}

/// The numbers EC2 gives the final `*` entries of every ACL: 32767 for
/// IPv4, 32768 for IPv6.
const FINAL_RULE: i32 = 32767;

/// The ephemeral ports of the clients' systems themselves: Linux uses
/// 32768-60999, Windows and macOS 49152-65535.
pub const CLIENT_PORTS: (u16, u16) = (32768, u16::MAX);

/// The ephemeral ports a client may use for its end of the connection: the
/// range the VPC documentation tells ACL authors to open.
pub const EPHEMERAL: (u16, u16) = (1024, u16::MAX);

/// Evaluates an ACL for an inbound TCP connection to `port` from `source`,
/// and for the replies to the client's ephemeral ports.
pub fn evaluate_acl(acl: &NetworkAcl, port: u16, source: Option<IpNet>) -> AclVerdict {
    let inbound = decide(acl, false, (port, port), source);
    if inbound != AclVerdict::Allowed {
        return inbound;
    }
    let replies = decide(acl, true, CLIENT_PORTS, source);
    if replies != AclVerdict::Allowed {
        return replies;
    }
    match decide(acl, true, (EPHEMERAL.0, CLIENT_PORTS.0 - 1), source) {
        AclVerdict::Denied { ports, rule, .. } => AclVerdict::RepliesLimited { ports, rule },
        _ => AclVerdict::Allowed,
    }
}

/// Walks the entries in rule-number order, deciding each port of `ports`
/// by the first entry that matches it; undecided ports fall to the final
/// deny. With an unknown source only entries for every address (`/0`) can
/// decide; any narrower one makes the outcome depend on the source.
fn decide(acl: &NetworkAcl, egress: bool, ports: (u16, u16), source: Option<IpNet>) -> AclVerdict {
    let mut entries: Vec<&AclEntry> = acl
        .entries
        .iter()
        .filter(|e| e.egress == egress && e.is_tcp())
        .collect();
    entries.sort_by_key(|e| e.rule_number);
    let direction = if egress { "outbound" } else { "inbound" };
    let mut open = vec![ports];
    for entry in entries {
        // An unknown operator is taken to come over IPv4, as most do.
        let family_matches = match source {
            Some(s) => same_family(&s, &entry.cidr),
            None => matches!(entry.cidr, IpNet::V4(_)),
        };
        if !family_matches {
            continue;
        }
        let matches = match source {
            Some(s) => entry.cidr.contains(&s),
            None if entry.cidr.prefix_len() == 0 => true,
            None => {
                if open
                    .iter()
                    .any(|r| intersect(*r, entry.port_range()).is_some())
                {
                    return AclVerdict::DependsOnSource;
                }
                false
            }
        };
        if !matches {
            continue;
        }
        let range = entry.port_range();
        let mut rest = Vec::new();
        for r in open {
            match intersect(r, range) {
                Some(hit) if !entry.allow => {
                    return AclVerdict::Denied {
                        direction,
                        ports: hit,
                        // EC2 lists the final denies (`*`) as 32767 and 32768.
                        rule: (entry.rule_number < FINAL_RULE).then_some(entry.rule_number),
                    };
                }
                Some(_) => rest.extend(subtract(r, range)),
                None => rest.push(r),
            }
        }
        open = rest;
        if open.is_empty() {
            return AclVerdict::Allowed;
        }
    }
    AclVerdict::Denied {
        direction,
        ports: open[0],
        rule: None,
    }
}

fn same_family(a: &IpNet, b: &IpNet) -> bool {
    matches!(
        (a, b),
        (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
    )
}

fn intersect(a: (u16, u16), b: (u16, u16)) -> Option<(u16, u16)> {
    let lo = a.0.max(b.0);
    let hi = a.1.min(b.1);
    (lo <= hi).then_some((lo, hi))
}

fn subtract(a: (u16, u16), b: (u16, u16)) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    if a.0 < b.0 {
        out.push((a.0, b.0 - 1));
    }
    if a.1 > b.1 {
        out.push((b.1 + 1, a.1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test CIDR")
    }

    fn tcp(from: i32, to: i32, cidrs: &[&str]) -> Permission {
        Permission {
            protocol: "tcp".into(),
            from_port: Some(from),
            to_port: Some(to),
            cidrs: cidrs.iter().map(|c| net(c)).collect(),
            ..Permission::default()
        }
    }

    fn group(id: &str, ingress: Vec<Permission>) -> SecurityGroup {
        SecurityGroup {
            id: id.into(),
            name: id.into(),
            ingress,
        }
    }

    #[test]
    #[allow(clippy::too_many_lines)] // a table
    fn security_group_cases() {
        let me = Source::Cidr(net("198.51.100.7/32"));
        let all = Permission {
            protocol: "-1".into(),
            cidrs: vec![net("0.0.0.0/0")],
            ..Permission::default()
        };
        let by_group = Permission {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            groups: vec!["sg-bastion".into()],
            ..Permission::default()
        };
        let prefix = Permission {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            prefix_lists: vec!["pl-123".into()],
            ..Permission::default()
        };
        let v6 = tcp(22, 22, &["2001:db8::/32"]);
        let cases: Vec<(&str, Vec<Permission>, Source, u16, GroupVerdict)> = vec![
            (
                "exact /32",
                vec![tcp(22, 22, &["198.51.100.7/32"])],
                me.clone(),
                22,
                GroupVerdict::Allowed {
                    group: "sg-a".into(),
                    rule: "tcp/22 from 198.51.100.7/32".into(),
                },
            ),
            (
                "port range covers",
                vec![tcp(20, 30, &["198.51.100.0/24"])],
                me.clone(),
                22,
                GroupVerdict::Allowed {
                    group: "sg-a".into(),
                    rule: "tcp/20-30 from 198.51.100.0/24".into(),
                },
            ),
            (
                "port range misses",
                vec![tcp(23, 30, &["0.0.0.0/0"])],
                me.clone(),
                22,
                GroupVerdict::Denied { allowed: vec![] },
            ),
            (
                "protocol -1",
                vec![all],
                me.clone(),
                3389,
                GroupVerdict::Allowed {
                    group: "sg-a".into(),
                    rule: "all traffic from 0.0.0.0/0".into(),
                },
            ),
            (
                "other CIDR",
                vec![tcp(22, 22, &["203.0.113.0/24"])],
                me.clone(),
                22,
                GroupVerdict::Denied {
                    allowed: vec!["203.0.113.0/24".into()],
                },
            ),
            (
                "source wider than the rule",
                vec![tcp(22, 22, &["198.51.100.7/32"])],
                Source::Cidr(net("198.51.100.0/24")),
                22,
                GroupVerdict::Partly {
                    group: "sg-a".into(),
                    rule: "tcp/22 from 198.51.100.7/32".into(),
                },
            ),
            (
                "IPv6 rule, IPv4 source",
                vec![v6.clone()],
                me.clone(),
                22,
                GroupVerdict::Denied {
                    allowed: vec!["2001:db8::/32".into()],
                },
            ),
            (
                "IPv6 source",
                vec![v6],
                Source::Cidr(net("2001:db8::5/128")),
                22,
                GroupVerdict::Allowed {
                    group: "sg-a".into(),
                    rule: "tcp/22 from 2001:db8::/32".into(),
                },
            ),
            (
                "group rule, from my address",
                vec![by_group.clone()],
                me.clone(),
                22,
                GroupVerdict::Denied {
                    allowed: vec!["group sg-bastion".into()],
                },
            ),
            (
                "group rule, from the bastion",
                vec![by_group],
                Source::Member {
                    groups: vec!["sg-bastion".into()],
                    address: net("10.0.0.5/32"),
                },
                22,
                GroupVerdict::Allowed {
                    group: "sg-a".into(),
                    rule: "tcp/22 from sg-bastion".into(),
                },
            ),
            (
                "prefix list",
                vec![prefix],
                me.clone(),
                22,
                GroupVerdict::Unverifiable {
                    prefix_lists: vec!["pl-123".into()],
                },
            ),
            (
                "udp does not count",
                vec![Permission {
                    protocol: "udp".into(),
                    from_port: Some(22),
                    to_port: Some(22),
                    cidrs: vec![net("0.0.0.0/0")],
                    ..Permission::default()
                }],
                me,
                22,
                GroupVerdict::Denied { allowed: vec![] },
            ),
        ];
        for (name, perms, source, port, want) in cases {
            let got = evaluate_groups(&[group("sg-a", perms)], port, &source);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn from_an_endpoint_address_rules_count_too() {
        // Where it connects from is unknown: only a rule for every address
        // is sure to let it in.
        let anywhere = Source::Endpoint {
            groups: vec!["sg-eice".into()],
            networks: vec![],
        };
        let open = evaluate_groups(
            &[group("sg-a", vec![tcp(22, 22, &["0.0.0.0/0"])])],
            22,
            &anywhere,
        );
        assert!(matches!(open, GroupVerdict::Allowed { .. }), "{open:?}");
        let vpc = evaluate_groups(
            &[group("sg-a", vec![tcp(22, 22, &["10.0.0.0/16"])])],
            22,
            &anywhere,
        );
        assert_eq!(
            vpc,
            GroupVerdict::Uncertain {
                cidrs: vec!["10.0.0.0/16".into()]
            }
        );

        // From its subnet 10.0.1.0/24 (or, that unknown, from one of its
        // VPC's CIDRs).
        let in_subnet = Source::Endpoint {
            groups: vec!["sg-eice".into()],
            networks: vec![net("10.0.1.0/24")],
        };
        let in_vpc = Source::Endpoint {
            groups: vec!["sg-eice".into()],
            networks: vec![net("10.0.0.0/16"), net("10.5.0.0/16")],
        };
        let verdict = |cidr: &str, source: &Source| {
            evaluate_groups(&[group("sg-a", vec![tcp(22, 22, &[cidr])])], 22, source)
        };
        let allowed = |rule: &str| GroupVerdict::Allowed {
            group: "sg-a".into(),
            rule: rule.into(),
        };
        let cases = [
            (
                "10.0.1.0/24",
                &in_subnet,
                allowed("tcp/22 from 10.0.1.0/24"),
            ),
            (
                "10.0.0.0/16",
                &in_subnet,
                allowed("tcp/22 from 10.0.0.0/16"),
            ),
            (
                "10.0.2.0/24",
                &in_subnet,
                GroupVerdict::Denied {
                    allowed: vec!["10.0.2.0/24".into()],
                },
            ),
            (
                "10.0.1.16/28",
                &in_subnet,
                GroupVerdict::Uncertain {
                    cidrs: vec!["10.0.1.16/28".into()],
                },
            ),
            (
                "2001:db8::/32",
                &in_subnet,
                GroupVerdict::Uncertain {
                    cidrs: vec!["2001:db8::/32".into()],
                },
            ),
            ("10.0.0.0/8", &in_vpc, allowed("tcp/22 from 10.0.0.0/8")),
            (
                "10.0.0.0/16",
                &in_vpc,
                GroupVerdict::Uncertain {
                    cidrs: vec!["10.0.0.0/16".into()],
                },
            ),
            (
                "192.168.0.0/16",
                &in_vpc,
                GroupVerdict::Denied {
                    allowed: vec!["192.168.0.0/16".into()],
                },
            ),
        ];
        for (cidr, source, want) in cases {
            assert_eq!(verdict(cidr, source), want, "{cidr} from {source:?}");
        }
    }

    #[test]
    fn a_second_group_can_allow() {
        let groups = [
            group("sg-a", vec![tcp(443, 443, &["0.0.0.0/0"])]),
            group("sg-b", vec![tcp(22, 22, &["0.0.0.0/0"])]),
        ];
        let got = evaluate_groups(&groups, 22, &Source::Cidr(net("192.0.2.1/32")));
        assert!(matches!(got, GroupVerdict::Allowed { group, .. } if group == "sg-b"));
    }

    fn entry(n: i32, egress: bool, ports: Option<(i32, i32)>, cidr: &str, allow: bool) -> AclEntry {
        AclEntry {
            rule_number: n,
            egress,
            protocol: if ports.is_some() { "6" } else { "-1" }.into(),
            from_port: ports.map(|p| p.0),
            to_port: ports.map(|p| p.1),
            cidr: net(cidr),
            allow,
        }
    }

    fn acl(entries: Vec<AclEntry>) -> NetworkAcl {
        let mut entries = entries;
        // Every ACL ends with the `*` entries EC2 lists as 32767.
        entries.push(entry(32767, false, None, "0.0.0.0/0", false));
        entries.push(entry(32767, true, None, "0.0.0.0/0", false));
        NetworkAcl {
            id: "acl-1".into(),
            entries,
        }
    }

    #[test]
    #[allow(clippy::too_many_lines)] // a table
    fn network_acl_cases() {
        let me = Some(net("198.51.100.7/32"));
        let allow_all_out = entry(100, true, None, "0.0.0.0/0", true);
        let cases: Vec<(&str, NetworkAcl, Option<IpNet>, AclVerdict)> = vec![
            (
                "default ACL allows",
                acl(vec![
                    entry(100, false, None, "0.0.0.0/0", true),
                    allow_all_out.clone(),
                ]),
                me,
                AclVerdict::Allowed,
            ),
            (
                "deny before allow wins",
                acl(vec![
                    entry(100, false, Some((22, 22)), "0.0.0.0/0", false),
                    entry(200, false, None, "0.0.0.0/0", true),
                    allow_all_out.clone(),
                ]),
                me,
                AclVerdict::Denied {
                    direction: "inbound",
                    ports: (22, 22),
                    rule: Some(100),
                },
            ),
            (
                "allow before deny wins, whatever the listed order",
                acl(vec![
                    entry(200, false, Some((22, 22)), "0.0.0.0/0", false),
                    entry(100, false, Some((22, 22)), "198.51.100.0/24", true),
                    allow_all_out.clone(),
                ]),
                me,
                AclVerdict::Allowed,
            ),
            (
                "nothing matches: the final deny",
                acl(vec![
                    entry(100, false, Some((443, 443)), "0.0.0.0/0", true),
                    allow_all_out.clone(),
                ]),
                me,
                AclVerdict::Denied {
                    direction: "inbound",
                    ports: (22, 22),
                    rule: None,
                },
            ),
            (
                "replies need the clients' ephemeral ports",
                acl(vec![
                    entry(100, false, None, "0.0.0.0/0", true),
                    entry(100, true, Some((32768, 60999)), "0.0.0.0/0", true),
                ]),
                me,
                AclVerdict::Denied {
                    direction: "outbound",
                    ports: (61000, 65535),
                    rule: None,
                },
            ),
            (
                "replies to the clients' ports only: a warning",
                acl(vec![
                    entry(100, false, None, "0.0.0.0/0", true),
                    entry(100, true, Some((32768, 65535)), "0.0.0.0/0", true),
                ]),
                me,
                AclVerdict::RepliesLimited {
                    ports: (1024, 32767),
                    rule: None,
                },
            ),
            (
                "an outbound deny inside the range",
                acl(vec![
                    entry(100, false, None, "0.0.0.0/0", true),
                    entry(90, true, Some((50000, 50010)), "0.0.0.0/0", false),
                    allow_all_out.clone(),
                ]),
                me,
                AclVerdict::Denied {
                    direction: "outbound",
                    ports: (50000, 50010),
                    rule: Some(90),
                },
            ),
            (
                "unknown source, narrow rule",
                acl(vec![
                    entry(100, false, Some((22, 22)), "198.51.100.0/24", true),
                    allow_all_out.clone(),
                ]),
                None,
                AclVerdict::DependsOnSource,
            ),
            (
                "unknown source, deny for everyone",
                acl(vec![
                    entry(100, false, Some((22, 22)), "0.0.0.0/0", false),
                    entry(200, false, None, "0.0.0.0/0", true),
                    allow_all_out,
                ]),
                None,
                AclVerdict::Denied {
                    direction: "inbound",
                    ports: (22, 22),
                    rule: Some(100),
                },
            ),
        ];
        for (name, acl, source, want) in cases {
            assert_eq!(evaluate_acl(&acl, 22, source), want, "{name}");
        }
    }

    #[test]
    fn internet_route() {
        let table = |target: &str, state: &str| RouteTable {
            id: "rtb-1".into(),
            main: false,
            routes: vec![
                Route {
                    destination: "10.0.0.0/16".into(),
                    target: "local".into(),
                    state: "active".into(),
                },
                Route {
                    destination: "0.0.0.0/0".into(),
                    target: target.into(),
                    state: state.into(),
                },
            ],
        };
        assert!(table("igw-1", "active").internet_route(false).is_some());
        assert!(table("igw-1", "blackhole").internet_route(false).is_none());
        assert!(table("nat-1", "active").internet_route(false).is_none());
        assert!(table("igw-1", "active").internet_route(true).is_none());

        // A more specific route for the operator's network wins.
        let mut t = table("igw-1", "active");
        t.routes.push(Route {
            destination: "198.51.100.0/24".into(),
            target: "nat-1".into(),
            state: "active".into(),
        });
        let me: IpNet = "198.51.100.7/32".parse().expect("cidr");
        assert_eq!(t.route_for(&me).map(|r| r.target.as_str()), Some("nat-1"));
        let other: IpNet = "203.0.113.1/32".parse().expect("cidr");
        assert_eq!(
            t.route_for(&other).map(|r| r.target.as_str()),
            Some("igw-1")
        );
    }
}
