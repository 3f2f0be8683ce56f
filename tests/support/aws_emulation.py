"""Calls moto 5.2.5 does not implement (it answers them with HTTP 500),
emulated as the AWS documentation describes them, for the sandbox.

* SSM DescribeInstanceInformation: the managed instances. An instance is
  managed when its SSM agent reports in; the sandbox stands that in with
  the tag ``sandbox:ssm-ping`` (its value is the PingStatus: Online,
  ConnectionLost, Inactive). Untagged instances are not managed, so they
  are absent from the list, as in SSM.
* EC2 DescribeInstanceConnectEndpoints: the sandbox has no EC2 Instance
  Connect Endpoint, so the list is empty (filters are accepted).
"""

from moto.core.responses import ActionResult


def emulate_ssm_and_instance_connect_endpoints(ec2_backends):
    from moto.ec2.responses import EC2Response
    from moto.ssm.responses import SimpleSystemManagerResponse

    if getattr(SimpleSystemManagerResponse, "_berth_emulated", False):
        return

    def describe_instance_information(self):
        wanted = None
        for f in self._get_param("Filters") or []:
            if f.get("Key") in ("InstanceIds", "InstanceId"):
                wanted = set(f.get("Values") or [])
        for f in self._get_param("InstanceInformationFilterList") or []:
            if f.get("key") == "InstanceIds":
                wanted = set(f.get("valueSet") or [])
        backend = ec2_backends[self.current_account][self.region]
        found = []
        for reservation in backend.reservations.values():
            for inst in reservation.instances:
                tags = {t["key"]: t["value"] for t in inst.get_tags()}
                ping = tags.get("sandbox:ssm-ping")
                if ping is None or (wanted is not None and inst.id not in wanted):
                    continue
                found.append({
                    "InstanceId": inst.id,
                    "PingStatus": ping,
                    "ResourceType": "EC2Instance",
                    "PlatformType": "Windows" if inst.platform == "windows" else "Linux",
                    "IPAddress": inst.private_ip,
                    "AgentVersion": "3.3.1611.0",
                })
        return ActionResult({"InstanceInformationList": found})

    def describe_instance_connect_endpoints(self):
        return ActionResult({"InstanceConnectEndpoints": []})

    SimpleSystemManagerResponse.describe_instance_information = describe_instance_information
    SimpleSystemManagerResponse._berth_emulated = True
    EC2Response.describe_instance_connect_endpoints = describe_instance_connect_endpoints


def emulate_container_runtime_ids():
    """ECS DescribeTasks: on EC2, each running container has a runtimeId,
    the container engine's 64-hex id (what `docker exec` takes). moto has
    none; derive a stable one from the container's ARN."""
    import hashlib

    from moto.ecs.models import Container

    if hasattr(Container, "runtime_id"):
        return
    Container.runtime_id = property(
        lambda self: hashlib.sha256(self.container_arn.encode()).hexdigest())
