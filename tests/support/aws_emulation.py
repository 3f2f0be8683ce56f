"""Calls moto 5.2.5 does not implement (it answers them with HTTP 500),
emulated as the AWS documentation describes them, for the sandbox.

* SSM DescribeInstanceInformation: the managed instances. An instance is
  managed when its SSM agent reports in; the sandbox stands that in with
  the tag ``sandbox:ssm-ping`` (its value is the PingStatus: Online,
  ConnectionLost, Inactive). Untagged instances are not managed, so they
  are absent from the list, as in SSM.
* EC2 CreateInstanceConnectEndpoint, DescribeInstanceConnectEndpoints and
  DeleteInstanceConnectEndpoint (the EC2 API reference): an endpoint lives
  in one subnet, with a requester-managed network interface there (a free
  address of the subnet, as EC2 gives it), the security groups given (else
  the VPC's default group), ``PreserveClientIp`` false unless asked, and
  DNS names ``eice-….<8 hex>.ec2-instance-connect-endpoint.REGION.amazonaws.com``
  (and ``.fips.``). EC2 takes a few minutes to create one: CreateInstanceConnectEndpoint
  answers ``create-in-progress`` as EC2 does, and the endpoint is
  ``create-complete`` by the next describe (the sandbox does not make
  anyone wait). Describe takes the ids and the filters
  ``instance-connect-endpoint-id``, ``vpc-id``, ``subnet-id``, ``state``,
  ``tag:KEY``, ``tag-key`` and ``tag-value`` (wildcards ``*`` and ``?``
  as EC2 filters take them), and pages with MaxResults/NextToken.
  ``instance_connect_endpoint()`` gives the tunnel stand-in
  (eice_endpoint.py) the endpoint a tunnel names.
"""

import base64
import datetime
import ipaddress
import random
import re
import threading

from moto.core.responses import ActionResult

# What the tunnel stand-in reads and the API writes: per EC2 backend
# (account and region), endpoint id -> endpoint.
_ENDPOINTS_ATTR = "_berth_instance_connect_endpoints"
_LOCK = threading.RLock()
# States that take tunnels (the AWS CLI's open-tunnel accepts these).
USABLE_STATES = ("create-complete", "update-in-progress", "update-complete", "update-failed")


def _endpoints(backend):
    with _LOCK:
        if not hasattr(backend, _ENDPOINTS_ATTR):
            setattr(backend, _ENDPOINTS_ATTR, {})
        return getattr(backend, _ENDPOINTS_ATTR)


def instance_connect_endpoint(backend, endpoint_id):
    """The endpoint with this id in the backend, or None."""
    return _endpoints(backend).get(endpoint_id)


def vpc_networks(backend, vpc_id):
    """The IPv4 CIDR blocks of a VPC (its primary and associated ones)."""
    vpc = backend.get_vpc(vpc_id)
    blocks = {vpc.cidr_block}
    for assoc in vpc.get_cidr_block_association_set(ipv6=False):
        if assoc.get("cidr_block_state", {}).get("state", "associated") == "associated":
            blocks.add(assoc.get("cidr_block"))
    return [ipaddress.ip_network(b) for b in sorted(blocks) if b]


def _free_address(backend, subnet):
    """The highest address of the subnet nothing holds yet. EC2 keeps the
    first four and the last address of every subnet for itself."""
    network = ipaddress.ip_network(subnet.cidr_block)
    used = set()
    for reservation in backend.all_reservations():
        for instance in reservation.instances:
            used.add(instance.private_ip)
    for eni in backend.enis.values():
        used.add(eni.private_ip_address)
    for address in reversed(list(network.hosts())[3:]):
        if str(address) not in used:
            return str(address)
    from moto.ec2.exceptions import EC2ClientError
    raise EC2ClientError("InsufficientFreeAddressesInSubnet",
                         f"There are not enough free addresses in subnet '{subnet.id}'")


def _new_id():
    return "eice-" + "".join(random.choice("0123456789abcdef") for _ in range(17))


def _created(endpoint, state):
    """An endpoint as the API serializes it, in `state`."""
    shown = {k: v for k, v in endpoint.items() if not k.startswith("_")}
    shown["State"] = state
    return shown


def emulate_ssm_and_instance_connect_endpoints(ec2_backends):
    from moto.ec2.exceptions import (
        EC2ClientError,
        InvalidSecurityGroupNotFoundError,
        MissingParameterError,
    )
    from moto.ec2.responses import EC2Response
    from moto.ec2.utils import simple_aws_filter_to_re
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

    def create_instance_connect_endpoint(self):
        backend = self.ec2_backend
        subnet_id = self._get_param("SubnetId")
        if not subnet_id:
            raise MissingParameterError("SubnetId")
        subnet = backend.get_subnet(subnet_id)  # InvalidSubnetID.NotFound
        group_ids = self._get_param("SecurityGroupIds") or []
        for group_id in group_ids:
            group = backend.get_security_group_from_id(group_id)
            if group is None or group.vpc_id != subnet.vpc_id:
                raise InvalidSecurityGroupNotFoundError(group_id)
        if not group_ids:
            group_ids = [backend.get_default_security_group(subnet.vpc_id).id]
        ip_type = self._get_param("IpAddressType") or "ipv4"
        preserve = self._get_bool_param("PreserveClientIp", False)
        if preserve and ip_type != "ipv4":
            raise EC2ClientError("InvalidParameterCombination",
                                 "PreserveClientIp is only supported for IpAddressType ipv4")
        token = self._get_param("ClientToken")
        endpoints = _endpoints(backend)
        with _LOCK:
            for existing in endpoints.values():
                if token and existing["_client_token"] == token:
                    return ActionResult({"InstanceConnectEndpoint": _created(
                        existing, "create-in-progress"), "ClientToken": token})
        self.error_on_dryrun()
        tags = []
        for spec in self._get_param("TagSpecifications") or []:
            if spec.get("ResourceType") in (None, "instance-connect-endpoint"):
                tags += [{"Key": t["Key"], "Value": t.get("Value", "")}
                         for t in spec.get("Tags") or []]
        endpoint_id = _new_id()
        eni = backend.create_network_interface(
            subnet, _free_address(backend, subnet), group_ids=group_ids,
            description=f"EC2 Instance Connect Endpoint {endpoint_id}")
        eni.requester_managed = True
        eni.interface_type = "ec2_instance_connect_endpoint"
        zone = f"{random.getrandbits(32):08x}"
        region = self.region
        endpoint = {
            "OwnerId": self.current_account,
            "InstanceConnectEndpointId": endpoint_id,
            "InstanceConnectEndpointArn":
                f"arn:aws:ec2:{region}:{self.current_account}:instance-connect-endpoint/{endpoint_id}",
            "State": "create-complete",
            "StateMessage": "",
            "DnsName": f"{endpoint_id}.{zone}.ec2-instance-connect-endpoint.{region}.amazonaws.com",
            "FipsDnsName":
                f"{endpoint_id}.{zone}.fips.ec2-instance-connect-endpoint.{region}.amazonaws.com",
            "NetworkInterfaceIds": [eni.id],
            "VpcId": subnet.vpc_id,
            "AvailabilityZone": subnet.availability_zone,
            "AvailabilityZoneId": subnet.availability_zone_id,
            "CreatedAt": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0),
            "SubnetId": subnet.id,
            "PreserveClientIp": preserve,
            "SecurityGroupIds": list(group_ids),
            "Tags": tags,
            "IpAddressType": ip_type,
            # Not part of the API: what the tunnel stand-in needs.
            "_client_token": token,
            "_address": eni.private_ip_address,
        }
        with _LOCK:
            endpoints[endpoint_id] = endpoint
        result = {"InstanceConnectEndpoint": _created(endpoint, "create-in-progress")}
        if token:
            result["ClientToken"] = token
        return ActionResult(result)

    def describe_instance_connect_endpoints(self):
        backend = self.ec2_backend
        ids = self._get_param("InstanceConnectEndpointIds") or []
        filters = self._filters_from_querystring()
        self.error_on_dryrun()
        endpoints = list(_endpoints(backend).values())
        for endpoint_id in ids:
            if not any(e["InstanceConnectEndpointId"] == endpoint_id for e in endpoints):
                raise EC2ClientError(
                    "InvalidInstanceConnectEndpointId.NotFound",
                    f"The instanceConnectEndpointId '{endpoint_id}' does not exist")
        if ids:
            endpoints = [e for e in endpoints if e["InstanceConnectEndpointId"] in ids]
        fields = {"instance-connect-endpoint-id": "InstanceConnectEndpointId",
                  "vpc-id": "VpcId", "subnet-id": "SubnetId", "state": "State"}

        def matches(endpoint, name, values):
            patterns = [re.compile(simple_aws_filter_to_re(v)) for v in values]
            tags = {t["Key"]: t["Value"] for t in endpoint["Tags"]}
            if name in fields:
                candidates = [endpoint[fields[name]]]
            elif name.startswith("tag:"):
                candidates = [tags[name[4:]]] if name[4:] in tags else []
            elif name == "tag-key":
                candidates = list(tags)
            elif name == "tag-value":
                candidates = list(tags.values())
            else:
                raise EC2ClientError("InvalidParameterValue", f"The filter '{name}' is invalid")
            return any(p.match(c) for p in patterns for c in candidates)

        endpoints = [e for e in endpoints
                     if all(matches(e, name, values) for name, values in filters.items())]
        limit = self._get_int_param("MaxResults") or 1000
        token = self._get_param("NextToken")
        start = int(base64.b64decode(token).decode()) if token else 0
        page = {"InstanceConnectEndpoints": [_created(e, e["State"])
                                             for e in endpoints[start:start + limit]]}
        if start + limit < len(endpoints):
            page["NextToken"] = base64.b64encode(str(start + limit).encode()).decode()
        return ActionResult(page)

    def delete_instance_connect_endpoint(self):
        backend = self.ec2_backend
        endpoint_id = self._get_param("InstanceConnectEndpointId")
        self.error_on_dryrun()
        with _LOCK:
            endpoint = _endpoints(backend).pop(endpoint_id, None)
        if endpoint is None:
            raise EC2ClientError(
                "InvalidInstanceConnectEndpointId.NotFound",
                f"The instanceConnectEndpointId '{endpoint_id}' does not exist")
        for eni_id in endpoint["NetworkInterfaceIds"]:
            backend.enis.pop(eni_id, None)
        return ActionResult({"InstanceConnectEndpoint": _created(endpoint, "delete-in-progress")})

    SimpleSystemManagerResponse.describe_instance_information = describe_instance_information
    SimpleSystemManagerResponse._berth_emulated = True
    EC2Response.create_instance_connect_endpoint = create_instance_connect_endpoint
    EC2Response.describe_instance_connect_endpoints = describe_instance_connect_endpoints
    EC2Response.delete_instance_connect_endpoint = delete_instance_connect_endpoint
