//! The EC2 Instance Connect Endpoints of a VPC, as DescribeInstanceConnectEndpoints
//! reports them: the name a tunnel goes to, and the error when the VPC has
//! none to use. Which endpoint a tunnel goes through is
//! [`plan::route::choose_endpoint`](crate::plan::route::choose_endpoint)'s
//! decision.

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

impl EiceError {
    /// No usable endpoint for `host` in its VPC (which one a tunnel takes is
    /// [`plan::route::choose_endpoint`](crate::plan::route::choose_endpoint)'s
    /// to decide).
    pub fn no_endpoint(host: &Host) -> Self {
        Self::NoEndpoint {
            instance_id: host.ec2.instance_id.clone(),
            vpc_id: host.ec2.vpc_id.clone(),
            subnet_id: host.ec2.subnet_id.clone(),
            no_public_address: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::hint::Hint as _;
    use crate::model::host::example_host;

    use crate::model::network::example_endpoint as endpoint;

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
        // None in the VPC: plan::route::choose_endpoint finds nothing.
        assert!(crate::plan::route::choose_endpoint(&[], &host).is_none());
        let err = EiceError::no_endpoint(&host);
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
