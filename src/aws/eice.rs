//! What an EC2 Instance Connect Endpoint tunnel needs from AWS: the
//! endpoints of a VPC, and credentials to sign the tunnel with (the ones
//! every other call of this run uses).

use super::pages::all_pages;
use aws_credential_types::provider::SharedCredentialsProvider;

use super::ec2::{filter, non_empty};
use super::{Aws, AwsError};
use crate::model::network::InstanceConnectEndpoint;

impl Aws {
    /// DescribeInstanceConnectEndpoints of a VPC, in every state, in the
    /// order EC2 lists them.
    pub async fn instance_connect_endpoints(
        &self,
        vpc: &str,
    ) -> Result<Vec<InstanceConnectEndpoint>, AwsError> {
        all_pages(|token| async move {
            let out = self
                .call(
                    "ec2:DescribeInstanceConnectEndpoints",
                    self.ec2
                        .describe_instance_connect_endpoints()
                        .filters(filter("vpc-id", vec![vpc.to_owned()]))
                        .set_next_token(token)
                        .send(),
                )
                .await?;
            let found: Vec<InstanceConnectEndpoint> = out
                .instance_connect_endpoints()
                .iter()
                .map(|e| InstanceConnectEndpoint {
                    id: e
                        .instance_connect_endpoint_id()
                        .unwrap_or_default()
                        .to_owned(),
                    vpc_id: e.vpc_id().unwrap_or(vpc).to_owned(),
                    subnet_id: e.subnet_id().unwrap_or_default().to_owned(),
                    state: e
                        .state()
                        .map_or_else(|| "create-complete".to_owned(), |s| s.as_str().to_owned()),
                    dns_name: e.dns_name().unwrap_or_default().to_owned(),
                    fips_dns_name: non_empty(e.fips_dns_name()),
                    security_group_ids: e.security_group_ids().to_vec(),
                    preserve_client_ip: e.preserve_client_ip().unwrap_or(false),
                })
                .collect();
            Ok((found, non_empty(out.next_token())))
        })
        .await
    }

    /// The credentials provider of this run, to sign tunnels with.
    pub fn credentials_provider(&self) -> Result<SharedCredentialsProvider, AwsError> {
        self.credentials
            .clone()
            .ok_or_else(|| AwsError::Credentials {
                profile: self.profile.clone(),
                detail: "no credentials provider is configured".to_owned(),
            })
    }
}
