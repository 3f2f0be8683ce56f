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
    """The CIDR blocks of a VPC: its primary and associated IPv4 ones, and
    its IPv6 ones."""
    vpc = backend.get_vpc(vpc_id)
    blocks = {vpc.cidr_block}
    for ipv6 in (False, True):
        for assoc in vpc.get_cidr_block_association_set(ipv6=ipv6):
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


# SendSSHPublicKey: "The key remains for 60 seconds" (EC2 Instance Connect
# API Reference). The sandbox's AuthorizedKeysCommand honours the same limit.
INSTANCE_CONNECT_KEY_LIFETIME_SECONDS = 60

# The request's documented constraints (API Reference, SendSSHPublicKey).
_INSTANCE_ID = r"^i-[a-f0-9]+$"
_OS_USER = r"^[A-Za-z_][A-Za-z0-9\@\._-]{0,30}[A-Za-z0-9\$_-]?$"
_AVAILABILITY_ZONE = r"^(\w+-){2,3}\d+\w+$"
# Key types EC2 Instance Connect accepts, in OpenSSH format.
_KEY_TYPES = ("ssh-rsa", "ssh-ed25519")


def _ssh_strings(blob):
    """The length-prefixed strings of an OpenSSH public key blob (RFC 4253)."""
    parts, at = [], 0
    while at < len(blob):
        if at + 4 > len(blob):
            raise ValueError("truncated length")
        size = int.from_bytes(blob[at:at + 4], "big")
        at += 4
        if at + size > len(blob):
            raise ValueError("truncated field")
        parts.append(blob[at:at + size])
        at += size
    return parts


def check_instance_connect_key(text):
    """The key type if `text` is an RSA or ED25519 public key in OpenSSH
    format (`TYPE BASE64 [COMMENT]`), else a reason it is not."""
    import base64
    import binascii

    words = text.strip().split()
    if len(words) < 2:
        return None, "the key is not in OpenSSH format (TYPE BASE64 [COMMENT])"
    key_type, encoded = words[0], words[1]
    if key_type not in _KEY_TYPES:
        return None, f"key type {key_type} is not supported (RSA or ED25519 only)"
    try:
        parts = _ssh_strings(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as e:
        return None, f"the key's base64 body is not an SSH public key ({e})"
    if not parts or parts[0] != key_type.encode():
        return None, f"the key's body is not a {key_type} key"
    if key_type == "ssh-ed25519" and (len(parts) != 2 or len(parts[1]) != 32):
        return None, "the ED25519 key is not 32 bytes"
    if key_type == "ssh-rsa" and (len(parts) != 3 or not parts[1] or not parts[2]):
        return None, "the RSA key lacks its exponent or modulus"
    return key_type, None


def emulate_instance_connect(ec2_backends, key_store):
    """EC2 Instance Connect's SendSSHPublicKey, as the API Reference describes
    it (moto answers Success for anything and keeps nothing):

    * the instance must exist (in the given Availability Zone, if one is
      given): else EC2InstanceNotFoundException; and be running: else
      EC2InstanceStateInvalidException;
    * InstanceId, InstanceOSUser and AvailabilityZone must match their
      documented patterns, and SSHPublicKey must be an RSA or ED25519 key in
      OpenSSH format, 80 to 4096 characters: else InvalidArgsException;
    * the key is kept for the instance and OS user for 60 seconds. On the
      instance, sshd asks for the keys through its AuthorizedKeysCommand (on
      Amazon Linux and Ubuntu, the ec2-instance-connect package's
      eic_run_authorized_keys, which reads them from the instance metadata
      service); in the sandbox that command reads them from ``key_store``:
      one file a key, ``KEY_STORE/INSTANCE_ID/OS_USER/EXPIRES_MS-ID.pub``,
      EXPIRES_MS being when it expires in Unix milliseconds.
    """
    import json
    import os
    import re
    import time
    import uuid

    from moto.core.exceptions import JsonRESTError
    from moto.ec2.exceptions import InvalidInstanceIdError
    from moto.ec2instanceconnect.responses import Ec2InstanceConnectResponse

    if getattr(Ec2InstanceConnectResponse, "_berth_emulated", False):
        return

    def invalid(message):
        return JsonRESTError("InvalidArgsException", message)

    def store(instance_id, user, key):
        user_dir = os.path.join(key_store, instance_id, user)
        os.makedirs(user_dir, mode=0o755, exist_ok=True)
        for d in (os.path.join(key_store, instance_id), user_dir):
            os.chmod(d, 0o755)
        now_ms = int(time.time() * 1000)
        for name in os.listdir(user_dir):  # forget what has expired
            expires = name.split("-", 1)[0]
            if expires.isdigit() and int(expires) <= now_ms:
                try:
                    os.unlink(os.path.join(user_dir, name))
                except FileNotFoundError:
                    pass
        expires_ms = now_ms + INSTANCE_CONNECT_KEY_LIFETIME_SECONDS * 1000
        path = os.path.join(user_dir, f"{expires_ms}-{uuid.uuid4().hex}.pub")
        # Written whole, then renamed: sshd never reads half a key.
        tmp = os.path.join(user_dir, f".{uuid.uuid4().hex}.tmp")
        with open(tmp, "w") as f:
            f.write(key.strip() + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    def send_ssh_public_key(self):
        try:
            params = json.loads(self.body or "{}")
        except ValueError:
            raise invalid("the request body is not JSON")
        instance_id = params.get("InstanceId") or ""
        user = params.get("InstanceOSUser") or ""
        key = params.get("SSHPublicKey") or ""
        zone = params.get("AvailabilityZone")
        if not (10 <= len(instance_id) <= 32 and re.match(_INSTANCE_ID, instance_id)):
            raise invalid(f"InstanceId {instance_id!r} is not an instance id")
        if not (1 <= len(user) <= 32 and re.match(_OS_USER, user)):
            raise invalid(f"InstanceOSUser {user!r} is not a valid OS user name")
        if zone is not None and not (6 <= len(zone) <= 32 and re.match(_AVAILABILITY_ZONE, zone)):
            raise invalid(f"AvailabilityZone {zone!r} is not an Availability Zone")
        if not 80 <= len(key) <= 4096:
            raise invalid("SSHPublicKey must be 80 to 4096 characters long")
        _, why = check_instance_connect_key(key)
        if why:
            raise invalid(why)
        backend = ec2_backends[self.current_account][self.region]
        try:
            instance = backend.get_instance(instance_id)
        except InvalidInstanceIdError:
            instance = None
        if instance is None or (zone is not None and instance.availability_zone != zone):
            where = f" in {zone}" if zone is not None else ""
            raise JsonRESTError("EC2InstanceNotFoundException",
                                f"no instance {instance_id}{where}")
        if instance.state != "running":
            raise JsonRESTError("EC2InstanceStateInvalidException",
                                f"instance {instance_id} is {instance.state}; "
                                "keys can be pushed to running instances only")
        store(instance_id, user, key)
        return (200, {"Content-Type": "application/x-amz-json-1.1"},
                json.dumps({"RequestId": str(uuid.uuid4()), "Success": True}))

    Ec2InstanceConnectResponse.send_ssh_public_key = send_ssh_public_key
    Ec2InstanceConnectResponse._berth_emulated = True


def instance_connect_authorized_keys_command(key_store):
    """The sandbox's stand-in for eic_run_authorized_keys: a /bin/sh script
    sshd runs as ``SCRIPT INSTANCE_ID %u`` (as nobody) that prints the keys
    pushed for that instance and user which have not expired."""
    return f"""#!/bin/sh
# berth sandbox: EC2 Instance Connect's AuthorizedKeysCommand for one
# emulated instance. Prints the public keys SendSSHPublicKey pushed for OS
# user $2 of instance $1 that have not expired yet. (On Amazon Linux and
# Ubuntu, eic_run_authorized_keys reads them from the instance metadata
# service; the sandbox's AWS stand-in keeps them under STORE.)
STORE='{key_store}'
case "$1" in i-*) ;; *) exit 0 ;; esac
case "$1$2" in */* | *..* | "") exit 0 ;; esac
# A user the instance does not have: nothing to say (sshd refuses anyway).
id -u "$2" >/dev/null 2>&1 || exit 0
dir="$STORE/$1/$2"
[ -d "$dir" ] || exit 0
now=$(( $(date +%s%N) / 1000000 ))
for f in "$dir"/*.pub; do
    [ -f "$f" ] || continue
    expires=${{f##*/}}
    expires=${{expires%%-*}}
    case "$expires" in "" | *[!0-9]*) continue ;; esac
    if [ "$expires" -gt "$now" ]; then cat "$f"; fi
done
exit 0
"""


# How long after a container instance is set DRAINING the sandbox's ECS
# stops its service tasks (ECS moves them at the services' own pace).
DRAIN_DELAY_SECONDS = 1.0


def emulate_ecs_draining(ecs_backends):
    """ECS UpdateContainerInstancesState(DRAINING): "Service tasks on the
    container instance that are in the RUNNING state are stopped and
    replaced", while standalone tasks "are not affected" (ECS Developer
    Guide, container instance draining). moto only changes the status; here
    the service tasks (group `service:NAME`) on an instance set DRAINING are
    stopped shortly after, which brings its runningTasksCount to 0. (The
    replacements the scheduler would start elsewhere are not emulated.)"""
    import threading

    from moto.ecs.models import EC2ContainerServiceBackend

    if getattr(EC2ContainerServiceBackend, "_berth_draining", False):
        return
    original = EC2ContainerServiceBackend.update_container_instances_state

    def update_container_instances_state(self, cluster_str, ids, status):
        result = original(self, cluster_str, ids, status)
        if status.upper() != "DRAINING":
            return result
        cluster = self._get_cluster(cluster_str)
        arns = {ci.container_instance_arn for ci in result[0]}

        def stop_service_tasks():
            for arn, task in list(self.tasks.get(cluster.name, {}).items()):
                if (task.container_instance_arn in arns
                        and (task.group or "").startswith("service:")
                        and task.last_status != "STOPPED"):
                    self.stop_task(cluster.name, arn,
                                   "Service: container instance is in DRAINING state")

        timer = threading.Timer(DRAIN_DELAY_SECONDS, stop_service_tasks)
        timer.daemon = True
        timer.start()
        return result

    EC2ContainerServiceBackend.update_container_instances_state = update_container_instances_state
    EC2ContainerServiceBackend._berth_draining = True


# Run Command's documented limits (SSM API Reference): at most 50 instance
# ids a SendCommand; GetCommandInvocation returns the first 24,000
# characters of standard output and 8,000 of standard error;
# ListCommandInvocations' plugin Output, the first 2,500.
RUN_COMMAND_MAX_INSTANCES = 50
STDOUT_LIMIT = 24000
STDERR_LIMIT = 8000
LIST_OUTPUT_LIMIT = 2500


def emulate_run_command(ec2_backends):
    """SSM Run Command as the sandbox's SSM agents would answer it (moto
    records the command but runs nothing and reports Success at once):

    * SendCommand with AWS-RunShellScript (or AWS-RunPowerShellScript)
      and at most 50 InstanceIds; an id that is not a managed instance whose
      agent is Online (tag ``sandbox:ssm-ping``) fails the call with
      InvalidInstanceId, as SSM does;
    * each instance's "agent" runs the `commands` parameter with ``sh -c``
      on this machine (the sandbox's hosts all live here), with
      AWS_SSM_INSTANCE_ID and AWS_SSM_REGION_NAME set as the agent sets them,
      for at most `executionTimeout` seconds; the invocation goes Pending ->
      InProgress -> Success / Failed / TimedOut with the exit status as
      ResponseCode;
    * GetCommandInvocation and ListCommandInvocations (Details) report it,
      output truncated at the documented limits.
    """
    import datetime
    import json
    import subprocess
    import threading
    import uuid

    from moto.ssm.responses import SimpleSystemManagerResponse

    if getattr(SimpleSystemManagerResponse, "_berth_run_command", False):
        return
    commands = {}  # command id -> {"instances": {id: invocation}, ...}
    lock = threading.Lock()

    def now():
        return datetime.datetime.now(datetime.timezone.utc).isoformat()

    def error(code, message):
        body = json.dumps({"__type": code, "message": message})
        return 400, {"content-type": "application/x-amz-json-1.1"}, body

    def managed_online(backend, instance_id):
        for reservation in backend.reservations.values():
            for inst in reservation.instances:
                if inst.id == instance_id:
                    tags = {t["key"]: t["value"] for t in inst.get_tags()}
                    return tags.get("sandbox:ssm-ping") == "Online"
        return False

    def run(invocation, script, timeout, region):
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root",
               "AWS_SSM_INSTANCE_ID": invocation["InstanceId"], "AWS_SSM_REGION_NAME": region}
        with lock:
            invocation.update(Status="InProgress", StatusDetails="InProgress",
                              ExecutionStartDateTime=now())
        try:
            done = subprocess.run(["sh", "-c", script], env=env, capture_output=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
            status = "Success" if done.returncode == 0 else "Failed"
            code, out, err = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as e:
            status, code = "TimedOut", -1
            out, err = e.stdout or b"", e.stderr or b""
        with lock:
            invocation.update(
                Status=status, StatusDetails="ExecutionTimedOut" if status == "TimedOut" else status,
                ResponseCode=code, ExecutionEndDateTime=now(),
                StandardOutputContent=out.decode("utf-8", "replace")[:STDOUT_LIMIT],
                StandardErrorContent=err.decode("utf-8", "replace")[:STDERR_LIMIT])

    def send_command(self):
        document = self._get_param("DocumentName")
        ids = self._get_param("InstanceIds", []) or []
        parameters = self._get_param("Parameters", {}) or {}
        if document not in ("AWS-RunShellScript", "AWS-RunPowerShellScript"):
            return error("InvalidDocument", f"document {document} is not emulated")
        if not ids or len(ids) > RUN_COMMAND_MAX_INSTANCES:
            return error("ValidationException",
                         f"InstanceIds must have 1 to {RUN_COMMAND_MAX_INSTANCES} members")
        backend = ec2_backends[self.current_account][self.region]
        if any(not managed_online(backend, i) for i in ids):
            return error("InvalidInstanceId",
                         "Instances not in a valid state for account " + self.current_account)
        script = "\n".join(parameters.get("commands", []))
        timeout = int((parameters.get("executionTimeout") or ["3600"])[0])
        command_id = str(uuid.uuid4())
        requested = now()
        invocations = {
            i: {"CommandId": command_id, "InstanceId": i, "DocumentName": document,
                "Status": "Pending", "StatusDetails": "Pending", "ResponseCode": -1,
                "StandardOutputContent": "", "StandardErrorContent": "",
                "PluginName": "aws:runShellScript" if document == "AWS-RunShellScript"
                else "aws:runPowerShellScript", "RequestedDateTime": requested}
            for i in ids}
        with lock:
            commands[command_id] = invocations
        for invocation in invocations.values():
            threading.Thread(target=run, args=(invocation, script, timeout, self.region),
                             daemon=True).start()
        return 200, {"content-type": "application/x-amz-json-1.1"}, json.dumps({"Command": {
            "CommandId": command_id, "DocumentName": document, "InstanceIds": ids,
            "Parameters": parameters, "Status": "Pending", "TargetCount": len(ids),
            "CompletedCount": 0, "ErrorCount": 0,
            # a Timestamp in the JSON protocol: epoch seconds
            "RequestedDateTime": datetime.datetime.fromisoformat(requested).timestamp()}})

    def get_command_invocation(self):
        command_id = self._get_param("CommandId")
        instance_id = self._get_param("InstanceId")
        with lock:
            invocation = commands.get(command_id, {}).get(instance_id)
            if invocation is None:
                return error("InvocationDoesNotExist",
                             "An invocation cannot be retrieved for that command and instance")
            body = {k: invocation[k] for k in (
                "CommandId", "InstanceId", "DocumentName", "PluginName", "ResponseCode",
                "Status", "StatusDetails", "StandardOutputContent", "StandardErrorContent")}
            for k in ("ExecutionStartDateTime", "ExecutionEndDateTime"):
                if k in invocation:
                    body[k] = invocation[k]
        return 200, {"content-type": "application/x-amz-json-1.1"}, json.dumps(body)

    def list_command_invocations(self):
        command_id = self._get_param("CommandId")
        details = self._get_param("Details", False)
        with lock:
            found = []
            for cid, invocations in commands.items():
                if command_id and cid != command_id:
                    continue
                for inv in invocations.values():
                    entry = {"CommandId": cid, "InstanceId": inv["InstanceId"],
                             "DocumentName": inv["DocumentName"], "Status": inv["Status"],
                             "StatusDetails": inv["StatusDetails"]}
                    if details:
                        entry["CommandPlugins"] = [{
                            "Name": inv["PluginName"], "Status": inv["Status"],
                            "ResponseCode": inv["ResponseCode"],
                            "Output": (inv["StandardOutputContent"]
                                       + inv["StandardErrorContent"])[:LIST_OUTPUT_LIMIT]}]
                    found.append(entry)
        return 200, {"content-type": "application/x-amz-json-1.1"}, json.dumps(
            {"CommandInvocations": found})

    SimpleSystemManagerResponse.send_command = send_command
    SimpleSystemManagerResponse.get_command_invocation = get_command_invocation
    SimpleSystemManagerResponse.list_command_invocations = list_command_invocations
    SimpleSystemManagerResponse._berth_run_command = True


# The tag that tells the console-output emulation what an instance printed
# (see emulate_console_output).
CONSOLE_TAG = "sandbox:console"


def _ssh_fingerprint(public_key_line):
    """`SHA256:…` of an OpenSSH public key line, as `ssh-keygen -l` prints it."""
    import base64
    import hashlib

    blob = base64.b64decode(public_key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def cloud_init_console(private_ip, public_key_lines, keys=True):
    """Console text of a first boot with cloud-init: the kernel's lines, then
    write-ssh-key-fingerprints' two blocks (fingerprints through the `ec2:`
    logger, then the keys), as on Amazon Linux and Ubuntu."""
    host = "ip-" + (private_ip or "10-0-0-1").replace(".", "-")
    lines = [
        "[    0.000000] Linux version 6.1.112-122.189.amzn2023.x86_64 (mockbuild@ip-10-0-43-165) #1 SMP",
        "[    0.000000] Command line: BOOT_IMAGE=(hd0,gpt1)/boot/vmlinuz-6.1 root=UUID=0 ro console=ttyS0,115200n8",
        f"[   11.504331] cloud-init[1702]: Cloud-init v. 22.2.2 running 'modules:final' at Mon, 10 Nov 2025 08:01:12 +0000.",
        "ec2: ",
        "ec2: #############################################################",
        "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
    ]
    for key in public_key_lines:
        kind = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA"}.get(key.split()[0], "ECDSA")
        bits = "256" if kind != "RSA" else "3072"
        lines.append(f"ec2: {bits} {_ssh_fingerprint(key)} root@{host} ({kind})")
    lines += [
        "ec2: -----END SSH HOST KEY FINGERPRINTS-----",
        "ec2: #############################################################",
    ]
    if keys:
        lines.append("-----BEGIN SSH HOST KEY KEYS-----")
        lines += [" ".join(key.split()[:2]) + f" root@{host}" for key in public_key_lines]
        lines.append("-----END SSH HOST KEY KEYS-----")
    lines.append(f"[   11.912808] cloud-init[1702]: Cloud-init v. 22.2.2 finished at Mon, 10 Nov 2025 08:01:12 +0000. Up 11.89 seconds")
    return "\r\n".join(lines) + "\r\n"


def emulate_console_output(host_key_pub, stranger_key_pub):
    """EC2 GetConsoleOutput as EC2 answers it for a booted instance (moto
    returns one canned kernel log without host keys for every instance):
    the console text, base64-encoded, in which cloud-init printed the SSH
    host keys at first boot. Every Linux host of the sandbox has the
    sandbox sshd's host key (read from ``host_key_pub``). The tag
    ``sandbox:console`` stands for other consoles:

    * ``stranger``: the keys of another machine (``stranger_key_pub``), as
      for an instance whose address now answers with someone else's sshd;
    * ``fingerprints-only``: the fingerprints block without the keys;
    * ``no-host-keys``: the kernel's lines only (cloud-init told not to
      print them, or the 64 KB EC2 keeps no longer hold them);
    * ``empty``: no output at all (EC2 has none yet).

    A Windows instance's console (EC2Launch) has no SSH host keys.
    """
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.ec2.responses.general import SAMPLE_CONSOLE_OUTPUT, General
    from moto.ec2.utils import Base64EncodedString

    if getattr(General, "_berth_emulated", False):
        return

    def read_key(path):
        with open(path) as f:
            return f.read().strip()

    def get_console_output(self):
        instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))
        tags = {t["key"]: t["value"] for t in instance.get_tags()}
        console = tags.get(CONSOLE_TAG)
        result = {"InstanceId": instance.id, "Timestamp": utcnow()}
        if console == "empty":
            return ActionResult(result)
        if instance.platform == "windows":
            text = ("Windows is Ready to use\r\nEC2LaunchTelemetry: IsTelemetryEnabled=true\r\n"
                    "Message: Windows is Ready to use\r\n")
        elif console == "no-host-keys":
            text = SAMPLE_CONSOLE_OUTPUT
        else:
            key = read_key(stranger_key_pub if console == "stranger" else host_key_pub)
            text = cloud_init_console(instance.private_ip, [key],
                                      keys=console != "fingerprints-only")
        result["Output"] = Base64EncodedString.from_raw_string(text)
        return ActionResult(result)

    General.get_console_output = get_console_output
    General._berth_emulated = True


def emulate_instance_lookups_at_scale():
    """DescribeInstances by id as EC2 answers it, in time for a fleet of
    thousands: moto compares every requested id with every instance of
    every reservation (lists, not sets), which takes seconds per call of
    1000 ids in the sandbox's `huge` cluster. Same answers and errors,
    looked up in sets."""
    from moto.ec2.exceptions import InvalidInstanceIdError
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.utils import filter_reservations

    if getattr(InstanceBackend, "_berth_emulated", False):
        return

    def get_reservations_by_instance_ids(self, instance_ids, filters=None):
        wanted = set(instance_ids)
        reservations = []
        for reservation in self.all_reservations():
            if any(instance.id in wanted for instance in reservation.instances):
                reservation.instances = [i for i in reservation.instances if i.id in wanted]
                reservations.append(reservation)
        found = {i.id for r in reservations for i in r.instances}
        if len(found) != len(instance_ids):
            raise InvalidInstanceIdError(list(set(instance_ids).difference(found))[0])
        if filters is not None:
            reservations = filter_reservations(reservations, filters)
        return reservations

    InstanceBackend.get_reservations_by_instance_ids = get_reservations_by_instance_ids
    InstanceBackend._berth_emulated = True
