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
