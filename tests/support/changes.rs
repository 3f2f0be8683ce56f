//! Changes a test makes to the sandbox's AWS as an operator (or AWS
//! itself) would: tags, terminations, container instances deregistered or
//! registered elsewhere, a Fargate task. Each test changes only instances
//! it launched itself, so the shared fleet stays as every test expects it.

use super::Sandbox;

impl Sandbox {
    /// An ECS client of the sandbox, and a runtime to drive it.
    fn ecs(&self) -> (aws_sdk_ecs::Client, tokio::runtime::Runtime) {
        use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                "testing", "testing", None, None, "sandbox",
            ))
            .build();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        (aws_sdk_ecs::Client::from_conf(config), runtime)
    }

    /// Sets tag `key` to `value` on an instance.
    pub fn tag_instance(&self, instance_id: &str, key: &str, value: &str) {
        use aws_sdk_ec2::types::Tag;
        let (client, runtime) = self.ec2();
        runtime
            .block_on(
                client
                    .create_tags()
                    .resources(instance_id)
                    .tags(Tag::builder().key(key).value(value).build())
                    .send(),
            )
            .unwrap_or_else(|e| panic!("CreateTags {instance_id}: {e:?}"));
    }

    /// Terminates an instance as its owner would.
    pub fn terminate_instance(&self, instance_id: &str) {
        let (client, runtime) = self.ec2();
        runtime
            .block_on(
                client
                    .terminate_instances()
                    .instance_ids(instance_id)
                    .send(),
            )
            .unwrap_or_else(|e| panic!("TerminateInstances {instance_id}: {e:?}"));
    }

    /// Creates an ECS cluster (a no-op if it exists).
    pub fn create_cluster(&self, name: &str) {
        let (client, runtime) = self.ecs();
        runtime
            .block_on(client.create_cluster().cluster_name(name).send())
            .unwrap_or_else(|e| panic!("CreateCluster {name}: {e:?}"));
    }

    /// Registers an instance as a container instance of `cluster`, as its
    /// ECS agent does; the container instance's ARN.
    pub fn register_container_instance(&self, cluster: &str, instance_id: &str) -> String {
        let document = serde_json::json!({
            "accountId": "123456789012",
            "availabilityZone": "us-east-1a",
            "instanceId": instance_id,
            "region": self.region,
            "version": "2017-09-30",
        });
        let (client, runtime) = self.ecs();
        let output = runtime
            .block_on(
                client
                    .register_container_instance()
                    .cluster(cluster)
                    .instance_identity_document(document.to_string())
                    .instance_identity_document_signature("")
                    .send(),
            )
            .unwrap_or_else(|e| panic!("RegisterContainerInstance {instance_id}: {e:?}"));
        output
            .container_instance()
            .and_then(|ci| ci.container_instance_arn())
            .expect("container instance ARN")
            .to_owned()
    }

    /// Deregisters a container instance, as `aws ecs
    /// deregister-container-instance --force` does.
    pub fn deregister_container_instance(&self, cluster: &str, arn: &str) {
        let (client, runtime) = self.ecs();
        runtime
            .block_on(
                client
                    .deregister_container_instance()
                    .cluster(cluster)
                    .container_instance(arn)
                    .force(true)
                    .send(),
            )
            .unwrap_or_else(|e| panic!("DeregisterContainerInstance {arn}: {e:?}"));
    }

    /// Starts a task of family `web` on Fargate in `cluster`: it has no
    /// container instance. Its ARN.
    pub fn run_fargate_task(&self, cluster: &str) -> String {
        use aws_sdk_ecs::types::{AwsVpcConfiguration, LaunchType, NetworkConfiguration};
        let (client, runtime) = self.ecs();
        let network = NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .subnets(&self.subnet_id)
                    .build()
                    .expect("awsvpc configuration"),
            )
            .build();
        let output = runtime
            .block_on(
                client
                    .run_task()
                    .cluster(cluster)
                    .task_definition("web")
                    .launch_type(LaunchType::Fargate)
                    .network_configuration(network)
                    .send(),
            )
            .unwrap_or_else(|e| panic!("RunTask (Fargate) in {cluster}: {e:?}"));
        output.tasks()[0].task_arn().expect("task ARN").to_owned()
    }

    /// Launches an instance of `ami` (no key pair) in the sandbox subnet in
    /// a security group of its own, which admits nothing: for `--open`.
    /// The instance id and the group id.
    pub fn launch_instance_in_own_group(&self, ami: &str, name: &str) -> (String, String) {
        use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
        let (client, runtime) = self.ec2();
        let vpc = runtime
            .block_on(client.describe_subnets().subnet_ids(&self.subnet_id).send())
            .unwrap_or_else(|e| panic!("DescribeSubnets: {e:?}"))
            .subnets()[0]
            .vpc_id()
            .expect("vpc")
            .to_owned();
        let group = runtime
            .block_on(
                client
                    .create_security_group()
                    .group_name(name)
                    .description("a test's own group")
                    .vpc_id(vpc)
                    .send(),
            )
            .unwrap_or_else(|e| panic!("CreateSecurityGroup {name}: {e:?}"))
            .group_id()
            .expect("group id")
            .to_owned();
        let output = runtime
            .block_on(
                client
                    .run_instances()
                    .image_id(ami)
                    .instance_type(InstanceType::T3Micro)
                    .min_count(1)
                    .max_count(1)
                    .subnet_id(&self.subnet_id)
                    .security_group_ids(&group)
                    .tag_specifications(
                        TagSpecification::builder()
                            .resource_type(ResourceType::Instance)
                            .tags(Tag::builder().key("Name").value(name).build())
                            .build(),
                    )
                    .send(),
            )
            .unwrap_or_else(|e| panic!("RunInstances {ami}: {e:?}"));
        let id = output.instances()[0]
            .instance_id()
            .expect("instance id")
            .to_owned();
        (id, group)
    }
}
