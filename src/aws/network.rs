//! The network and access facts `berth doctor` reads, and the temporary
//! ingress rules of `--open`/`--fix`. Each call returns berth's own types.

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range};
use ipnet::IpNet;

use super::ec2::{filter, non_empty};
use super::pages::all_pages;
use super::{Aws, AwsError};
use crate::model::network::{
    AclEntry, KeyPairInfo, NetworkAcl, Permission, Route, RouteTable, SecurityGroup, VpcEndpoint,
};

/// One rule of a security group, as DescribeSecurityGroupRules lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRule {
    pub id: String,
    pub egress: bool,
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr: Option<String>,
    pub description: Option<String>,
}

/// What AuthorizeSecurityGroupIngress did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorized {
    /// Added, with the new rule's id.
    Added(Option<String>),
    /// An identical rule was already there (not ours: never remove it).
    AlreadyThere,
}

fn parse_cidr(s: Option<&str>) -> Option<IpNet> {
    s.and_then(|s| s.parse().ok())
}

fn permission(p: &IpPermission) -> Permission {
    Permission {
        protocol: p.ip_protocol().unwrap_or("-1").to_owned(),
        from_port: p.from_port(),
        to_port: p.to_port(),
        cidrs: p
            .ip_ranges()
            .iter()
            .filter_map(|r| parse_cidr(r.cidr_ip()))
            .chain(
                p.ipv6_ranges()
                    .iter()
                    .filter_map(|r| parse_cidr(r.cidr_ipv6())),
            )
            .collect(),
        prefix_lists: p
            .prefix_list_ids()
            .iter()
            .filter_map(|p| p.prefix_list_id().map(str::to_owned))
            .collect(),
        groups: p
            .user_id_group_pairs()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_owned))
            .collect(),
    }
}

impl Aws {
    /// DescribeSecurityGroups by id, in the order given.
    pub async fn security_groups(&self, ids: &[String]) -> Result<Vec<SecurityGroup>, AwsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .call(
                "ec2:DescribeSecurityGroups",
                self.ec2
                    .describe_security_groups()
                    .set_group_ids(Some(ids.to_vec()))
                    .send(),
            )
            .await?;
        let mut groups: Vec<SecurityGroup> = out
            .security_groups()
            .iter()
            .map(|g| SecurityGroup {
                id: g.group_id().unwrap_or_default().to_owned(),
                name: g.group_name().unwrap_or_default().to_owned(),
                ingress: g.ip_permissions().iter().map(permission).collect(),
            })
            .collect();
        groups.sort_by_key(|g| ids.iter().position(|id| *id == g.id));
        Ok(groups)
    }

    /// The route table that applies to a subnet: its own, else the VPC's
    /// main table.
    pub async fn route_table_for(
        &self,
        subnet: &str,
        vpc: &str,
    ) -> Result<Option<RouteTable>, AwsError> {
        let own = self
            .route_tables(vec![filter(
                "association.subnet-id",
                vec![subnet.to_owned()],
            )])
            .await?;
        if let Some(table) = own.into_iter().next() {
            return Ok(Some(table));
        }
        let main = self
            .route_tables(vec![
                filter("vpc-id", vec![vpc.to_owned()]),
                filter("association.main", vec!["true".to_owned()]),
            ])
            .await?;
        Ok(main.into_iter().next())
    }

    async fn route_tables(
        &self,
        filters: Vec<aws_sdk_ec2::types::Filter>,
    ) -> Result<Vec<RouteTable>, AwsError> {
        let out = self
            .call(
                "ec2:DescribeRouteTables",
                self.ec2
                    .describe_route_tables()
                    .set_filters(Some(filters))
                    .send(),
            )
            .await?;
        Ok(out
            .route_tables()
            .iter()
            .map(|t| RouteTable {
                id: t.route_table_id().unwrap_or_default().to_owned(),
                main: t.associations().iter().any(|a| a.main() == Some(true)),
                routes: t
                    .routes()
                    .iter()
                    .map(|r| Route {
                        destination: r
                            .destination_cidr_block()
                            .or(r.destination_ipv6_cidr_block())
                            .or(r.destination_prefix_list_id())
                            .unwrap_or_default()
                            .to_owned(),
                        target: [
                            r.gateway_id(),
                            r.nat_gateway_id(),
                            r.transit_gateway_id(),
                            r.vpc_peering_connection_id(),
                            r.network_interface_id(),
                            r.instance_id(),
                        ]
                        .into_iter()
                        .flatten()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                        state: r
                            .state()
                            .map_or_else(|| "active".to_owned(), |s| s.as_str().to_owned()),
                    })
                    .collect(),
            })
            .collect())
    }

    /// The VPC endpoints of `vpc` (every type and state), every page.
    pub async fn vpc_endpoints(&self, vpc: &str) -> Result<Vec<VpcEndpoint>, AwsError> {
        all_pages(|token| async move {
            let out = self
                .call(
                    "ec2:DescribeVpcEndpoints",
                    self.ec2
                        .describe_vpc_endpoints()
                        .filters(filter("vpc-id", vec![vpc.to_owned()]))
                        .set_next_token(token)
                        .send(),
                )
                .await?;
            let found = out
                .vpc_endpoints()
                .iter()
                .map(|e| VpcEndpoint {
                    id: e.vpc_endpoint_id().unwrap_or_default().to_owned(),
                    service_name: e.service_name().unwrap_or_default().to_owned(),
                    endpoint_type: e
                        .vpc_endpoint_type()
                        .map_or_else(String::new, |t| t.as_str().to_owned()),
                    state: e
                        .state()
                        .map_or_else(String::new, |s| s.as_str().to_owned()),
                })
                .collect();
            Ok((found, out.next_token().map(str::to_owned)))
        })
        .await
    }

    /// The internet gateway attached to a VPC, if any.
    pub async fn internet_gateway_of(&self, vpc: &str) -> Result<Option<String>, AwsError> {
        let out = self
            .call(
                "ec2:DescribeInternetGateways",
                self.ec2
                    .describe_internet_gateways()
                    .filters(filter("attachment.vpc-id", vec![vpc.to_owned()]))
                    .send(),
            )
            .await?;
        Ok(out
            .internet_gateways()
            .iter()
            .find_map(|g| non_empty(g.internet_gateway_id())))
    }

    /// DescribeSubnets of `subnets`: each one's IPv4 CIDR, as (subnet id,
    /// CIDR); a subnet EC2 does not list is left out.
    /// The VPC of a subnet (none when the subnet does not exist).
    pub async fn subnet_vpc(&self, subnet: &str) -> Result<Option<String>, AwsError> {
        let out = self
            .call(
                "ec2:DescribeSubnets",
                self.ec2.describe_subnets().subnet_ids(subnet).send(),
            )
            .await?;
        Ok(out
            .subnets()
            .first()
            .and_then(|s| s.vpc_id())
            .map(str::to_owned))
    }

    pub async fn subnet_cidrs(&self, subnets: &[String]) -> Result<Vec<(String, IpNet)>, AwsError> {
        if subnets.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .call(
                "ec2:DescribeSubnets",
                self.ec2
                    .describe_subnets()
                    .set_subnet_ids(Some(subnets.to_vec()))
                    .send(),
            )
            .await?;
        Ok(out
            .subnets()
            .iter()
            .filter_map(|s| Some((s.subnet_id()?.to_owned(), parse_cidr(s.cidr_block())?)))
            .collect())
    }

    /// DescribeVpcs of one VPC: its IPv4 CIDRs, the primary one and every
    /// one associated since (empty when EC2 does not list the VPC).
    pub async fn vpc_cidrs(&self, vpc: &str) -> Result<Vec<IpNet>, AwsError> {
        let out = self
            .call(
                "ec2:DescribeVpcs",
                self.ec2
                    .describe_vpcs()
                    .set_vpc_ids(Some(vec![vpc.to_owned()]))
                    .send(),
            )
            .await?;
        let mut cidrs: Vec<IpNet> = Vec::new();
        for v in out.vpcs() {
            let associated = v
                .cidr_block_association_set()
                .iter()
                // A CIDR being disassociated no longer hands out addresses.
                .filter(|a| {
                    a.cidr_block_state()
                        .and_then(|s| s.state())
                        .is_none_or(|s| s.as_str() == "associated")
                })
                .filter_map(|a| parse_cidr(a.cidr_block()));
            for cidr in parse_cidr(v.cidr_block()).into_iter().chain(associated) {
                if !cidrs.contains(&cidr) {
                    cidrs.push(cidr);
                }
            }
        }
        Ok(cidrs)
    }

    /// The network ACL associated with a subnet.
    pub async fn network_acl_for(&self, subnet: &str) -> Result<Option<NetworkAcl>, AwsError> {
        let out = self
            .call(
                "ec2:DescribeNetworkAcls",
                self.ec2
                    .describe_network_acls()
                    .filters(filter("association.subnet-id", vec![subnet.to_owned()]))
                    .send(),
            )
            .await?;
        Ok(out.network_acls().first().map(|acl| NetworkAcl {
            id: acl.network_acl_id().unwrap_or_default().to_owned(),
            entries: acl
                .entries()
                .iter()
                .filter_map(|e| {
                    let cidr = parse_cidr(e.cidr_block()).or(parse_cidr(e.ipv6_cidr_block()))?;
                    Some(AclEntry {
                        rule_number: e.rule_number()?,
                        egress: e.egress().unwrap_or(false),
                        protocol: e.protocol().unwrap_or("-1").to_owned(),
                        from_port: e.port_range().and_then(aws_sdk_ec2::types::PortRange::from),
                        to_port: e.port_range().and_then(aws_sdk_ec2::types::PortRange::to),
                        cidr,
                        allow: e.rule_action().is_some_and(|a| a.as_str() == "allow"),
                    })
                })
                .collect(),
        }))
    }

    /// The key pair as EC2 knows it; `None` when it no longer exists.
    pub async fn key_pair(&self, name: &str) -> Result<Option<KeyPairInfo>, AwsError> {
        let out = self
            .call(
                "ec2:DescribeKeyPairs",
                self.ec2.describe_key_pairs().key_names(name).send(),
            )
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) if e.code() == Some("InvalidKeyPair.NotFound") => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(out.key_pairs().first().map(|k| KeyPairInfo {
            name: k.key_name().unwrap_or(name).to_owned(),
            fingerprint: non_empty(k.key_fingerprint()),
            key_type: k.key_type().map(|t| t.as_str().to_owned()),
        }))
    }

    /// The rules of one security group.
    pub async fn security_group_rules(&self, group: &str) -> Result<Vec<GroupRule>, AwsError> {
        let out = self
            .call(
                "ec2:DescribeSecurityGroupRules",
                self.ec2
                    .describe_security_group_rules()
                    .filters(filter("group-id", vec![group.to_owned()]))
                    .send(),
            )
            .await?;
        Ok(out
            .security_group_rules()
            .iter()
            .map(|r| GroupRule {
                id: r.security_group_rule_id().unwrap_or_default().to_owned(),
                egress: r.is_egress().unwrap_or(false),
                protocol: r.ip_protocol().unwrap_or("-1").to_owned(),
                from_port: r.from_port(),
                to_port: r.to_port(),
                cidr: non_empty(r.cidr_ipv4()).or_else(|| non_empty(r.cidr_ipv6())),
                description: non_empty(r.description()),
            })
            .collect())
    }

    /// Allows TCP `port` from `cidr` into `group`, with `description`.
    pub async fn authorize_ingress(
        &self,
        group: &str,
        cidr: IpNet,
        port: u16,
        description: &str,
    ) -> Result<Authorized, AwsError> {
        let mut permission = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(i32::from(port))
            .to_port(i32::from(port));
        permission = match cidr {
            IpNet::V4(_) => permission.ip_ranges(
                IpRange::builder()
                    .cidr_ip(cidr.to_string())
                    .description(description)
                    .build(),
            ),
            IpNet::V6(_) => permission.ipv6_ranges(
                Ipv6Range::builder()
                    .cidr_ipv6(cidr.to_string())
                    .description(description)
                    .build(),
            ),
        };
        let out = self
            .call(
                "ec2:AuthorizeSecurityGroupIngress",
                self.ec2
                    .authorize_security_group_ingress()
                    .group_id(group)
                    .ip_permissions(permission.build())
                    .send(),
            )
            .await;
        match out {
            Ok(out) => Ok(Authorized::Added(
                out.security_group_rules()
                    .first()
                    .and_then(|r| non_empty(r.security_group_rule_id())),
            )),
            Err(e) if e.code() == Some("InvalidPermission.Duplicate") => {
                Ok(Authorized::AlreadyThere)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes one ingress rule by id.
    pub async fn revoke_ingress_rule(&self, group: &str, rule_id: &str) -> Result<(), AwsError> {
        self.call(
            "ec2:RevokeSecurityGroupIngress",
            self.ec2
                .revoke_security_group_ingress()
                .group_id(group)
                .security_group_rule_ids(rule_id)
                .send(),
        )
        .await?;
        Ok(())
    }
}
