//! The EC2 Instance Connect Endpoints of a VPC, as DescribeInstanceConnectEndpoints
//! reports them, and which one a tunnel to an instance goes through: one in
//! the instance's VPC that can take tunnels, preferably in its subnet (the
//! AWS CLI's `open-tunnel` chooses the same way).

use super::EiceError;
use crate::model::host::Host;
pub use crate::model::network::InstanceConnectEndpoint;

impl InstanceConnectEndpoint {
    /// The name tunnels go to: the FIPS one when FIPS endpoints are asked
    /// for (as the AWS CLI does), else the regular one.
    pub fn tunnel_host(&self, fips: bool) -> Result<&str, EiceError> {
        match (fips, &self.fips_dns_name) {
            (false, _) => Ok(&self.dns_name),
            (true, Some(name)) => Ok(name),
            (true, None) => Err(EiceError::NoFipsName {
                endpoint_id: self.id.clone(),
            }),
        }
    }
}

/// The endpoint to reach `host` through: a usable one in its VPC, the one
/// in its own subnet if there is one, else the first listed.
pub fn choose_endpoint<'a>(
    endpoints: &'a [InstanceConnectEndpoint],
    host: &Host,
) -> Result<&'a InstanceConnectEndpoint, EiceError> {
    let vpc = host.ec2.vpc_id.as_deref();
    let subnet = host.ec2.subnet_id.as_deref();
    let candidates = || {
        endpoints
            .iter()
            .filter(|e| e.usable() && Some(e.vpc_id.as_str()) == vpc)
    };
    candidates()
        .find(|e| Some(e.subnet_id.as_str()) == subnet)
        .or_else(|| candidates().next())
        .ok_or_else(|| EiceError::NoEndpoint {
            instance_id: host.ec2.instance_id.clone(),
            vpc_id: host.ec2.vpc_id.clone(),
            subnet_id: host.ec2.subnet_id.clone(),
            no_public_address: false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hint::Hint as _;
    use crate::model::host::example_host;

    fn endpoint(id: &str, vpc: &str, subnet: &str, state: &str) -> InstanceConnectEndpoint {
        InstanceConnectEndpoint {
            id: id.into(),
            vpc_id: vpc.into(),
            subnet_id: subnet.into(),
            state: state.into(),
            dns_name: format!("{id}.example"),
            fips_dns_name: None,
            security_group_ids: vec!["sg-eice".into()],
            preserve_client_ip: false,
        }
    }

    #[test]
    fn the_subnets_own_endpoint_first_then_the_vpcs() {
        let mut host = example_host();
        host.ec2.vpc_id = Some("vpc-a".into());
        host.ec2.subnet_id = Some("subnet-2".into());
        let cases: Vec<(&str, Vec<InstanceConnectEndpoint>, Option<&str>)> = vec![
            ("none at all", vec![], None),
            (
                "only in another VPC",
                vec![endpoint("eice-b", "vpc-b", "subnet-2", "create-complete")],
                None,
            ),
            (
                "one in another subnet of the VPC",
                vec![endpoint("eice-1", "vpc-a", "subnet-1", "create-complete")],
                Some("eice-1"),
            ),
            (
                "the instance's subnet wins over the first listed",
                vec![
                    endpoint("eice-1", "vpc-a", "subnet-1", "create-complete"),
                    endpoint("eice-2", "vpc-a", "subnet-2", "create-complete"),
                ],
                Some("eice-2"),
            ),
            (
                "one being created or deleted takes no tunnels",
                vec![
                    endpoint("eice-2", "vpc-a", "subnet-2", "create-in-progress"),
                    endpoint("eice-3", "vpc-a", "subnet-2", "delete-in-progress"),
                    endpoint("eice-1", "vpc-a", "subnet-1", "update-complete"),
                ],
                Some("eice-1"),
            ),
            (
                "failed to create",
                vec![endpoint("eice-2", "vpc-a", "subnet-2", "create-failed")],
                None,
            ),
        ];
        for (name, endpoints, want) in cases {
            let got = choose_endpoint(&endpoints, &host)
                .ok()
                .map(|e| e.id.as_str());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn fips_asks_for_the_fips_name() {
        let mut e = endpoint("eice-1", "vpc-a", "subnet-1", "create-complete");
        assert_eq!(e.tunnel_host(false).ok(), Some("eice-1.example"));
        assert!(matches!(
            e.tunnel_host(true),
            Err(EiceError::NoFipsName { .. })
        ));
        e.fips_dns_name = Some("eice-1.fips.example".into());
        assert_eq!(e.tunnel_host(true).ok(), Some("eice-1.fips.example"));
        assert_eq!(e.tunnel_host(false).ok(), Some("eice-1.example"));
    }

    #[test]
    fn none_names_the_vpc_and_the_subnet_to_create_one_in() {
        let mut host = example_host();
        host.ec2.vpc_id = Some("vpc-a".into());
        host.ec2.subnet_id = Some("subnet-2".into());
        let err = choose_endpoint(&[], &host).expect_err("none");
        assert!(err.to_string().contains("vpc-a"), "{err}");
        assert!(
            err.hint()
                .unwrap_or_default()
                .contains("aws ec2 create-instance-connect-endpoint --subnet-id subnet-2"),
            "{}",
            err.hint().unwrap_or_default()
        );
    }
}
