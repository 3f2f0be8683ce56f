#!/usr/bin/env python3
"""A fast stand-in for AWS at scale: the answers the sandbox's moto gives
about a fleet of N container instances, recorded once and then served from
memory, with a fixed latency per request, so that what a benchmark or a
test measures is the client's own work and the round trips, not moto's.

    recorded_aws.py record --hosts 1000[,5000] --out FILE
    recorded_aws.py serve --recording FILE [--latency-ms 40] [--rules JSON]
                          [--invocation-seconds 3] [--log FILE]

``record`` starts moto in this process (with the sandbox's AMIs and its
emulations of ECS paging and of DescribeInstanceInformation), builds a
cluster ``scale-N`` of N container instances for each N with the
sandbox's own builder (``sandbox.build_container_instances``; every
instance's SSM agent Online), asks moto what a client would ask (every
page of ListClusters and ListContainerInstances, DescribeContainerInstances
100 ARNs a call, DescribeInstances 1000 ids a call, DescribeImages,
DescribeClusters, DescribeInstanceInformation 50 ids a call) and writes
what moto answered, item by item, to FILE (JSON). Recordings are made where
they are used (a test's or the benchmark's scratch directory) and never
committed.

``serve`` listens on 127.0.0.1 (a free port), prints
``{"endpoint": "http://…"}`` as one line on stdout and serves until its
stdin reaches EOF. It answers in each service's own protocol (ECS and SSM:
awsJson1_1; EC2: the query protocol, XML answers), with AWS's documented
limits and page sizes rather than moto's:

* ECS ListClusters and ListContainerInstances: ``maxResults`` 1–100
  (default 100) and an opaque ``nextToken``; ListContainerInstances takes
  ``status`` and the cluster-query ``filter`` expressions
  ``ec2InstanceId == ID`` and ``ec2InstanceId in [ID, …]``;
  DescribeContainerInstances at most 100 names (ids or ARNs), unknown ones
  under ``failures`` (MISSING); DescribeClusters likewise.
* EC2 DescribeInstances by ``InstanceId.N`` (at most 1000; an unknown id
  fails the call with InvalidInstanceID.NotFound) or the ``instance-id``
  filter (unknown ids left out); DescribeImages by ``ImageId.N`` or the
  ``image-id`` filter.
* SSM DescribeInstanceInformation with the ``InstanceIds`` filter (at most
  100 values; also the older InstanceInformationFilterList), ``MaxResults``
  5–50 (default 50), ``NextToken``.
* SSM Run Command, simulated, since a recording cannot replay it (every
  SendCommand makes a new CommandId): SendCommand (AWS-RunShellScript or
  AWS-RunPowerShellScript, 1–50 InstanceIds, each a managed instance whose
  agent is Online, else InvalidInstanceId) answers at once; each
  invocation is Pending, then InProgress, then Success with ResponseCode 0
  ``--invocation-seconds`` after it was sent. The simulated agent runs
  nothing: a command ``echo TEXT`` prints TEXT, anything else prints
  nothing. ListCommandInvocations (CommandId, InstanceId, Details,
  MaxResults 1–50 default 50, NextToken) and GetCommandInvocation report
  it.

Any other request is refused with an error that names it, so that a
client asking something the recording does not hold fails loudly.

Faults, as fault_proxy.py takes them: ``--rules`` is a JSON list of
``{"operation": NAME or "*", "fault": "throttle", "times": N, "after": M}``;
the first rule that matches a request, has let its first M matches
through and has times left answers it with the
service's throttling error (EC2: HTTP 503 RequestLimitExceeded; JSON
services: HTTP 400 ThrottlingException). ``POST /_rules`` replaces them.

Counting: every request is logged to ``--log`` as one JSON line
(``operation``, ``fault``, ``at``); ``GET /_stats`` answers the calls per
operation and the seconds the stand-in was busy with at least one request
(its own work, without the injected latency); ``POST /_reset`` zeroes both.
Everything stays on 127.0.0.1.
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
JSON = "application/x-amz-json-1.1"
ECS_PREFIX = "AmazonEC2ContainerServiceV20141113."
SSM_PREFIX = "AmazonSSM."
REGION = "us-east-1"
ACCOUNT = "123456789012"

# AWS's documented limits (ECS, EC2 and SSM API references).
ECS_PAGE = 100
ECS_DESCRIBE = 100
EC2_IDS = 1000
SSM_INFO_PAGE = 50
SSM_FILTER_VALUES = 100
RUN_COMMAND_MAX = 50
INVOCATIONS_PAGE = 50
LIST_OUTPUT_LIMIT = 2500
# GetCommandInvocation's StandardOutputContent and StandardErrorContent
# (SSM API Reference: the first 24,000 and 8,000 characters).
GET_STDOUT_LIMIT = 24000
GET_STDERR_LIMIT = 8000
# The agent's own limit on a plugin's Output, its title before standard
# error and its truncation marks (amazon-ssm-agent, contracts/plugin.go).
AGENT_OUTPUT_LIMIT = 2400
AGENT_ERROR_TITLE = "\n----------ERROR-------\n"
AGENT_CUT_OUT = "\n---Output truncated---"
AGENT_CUT_ERR = "\n---Error truncated----"


def _simulated_run(script):
    """(stdout, stderr) of a script of `echo WORDS` statements separated by
    `;` or newlines, `>&2` sending one to standard error; anything else
    prints nothing."""
    out, err = [], []
    for statement in script.replace("\n", ";").split(";"):
        words = statement.strip()
        to_err = words.endswith(">&2")
        if to_err:
            words = words[:-3].rstrip().removesuffix("1")
        if words == "echo" or words.startswith("echo "):
            (err if to_err else out).append(words[5:].strip() + "\n")
    return "".join(out), "".join(err)


def _agent_output(stdout, stderr, capacity=AGENT_OUTPUT_LIMIT):
    """A plugin's Output as the SSM agent writes it: standard output, then
    the title and standard error when there is any, each cut (and marked)
    when the two do not fit its limit."""
    title = AGENT_ERROR_TITLE if stderr else ""
    room = capacity - len(title)
    if len(stdout) + len(stderr) < room:
        return stdout + title + stderr
    if len(stdout) > room / 2 and len(stderr) > room / 2:
        cut = (room - len(AGENT_CUT_ERR) - len(AGENT_CUT_OUT)) // 2
        return stdout[:cut] + AGENT_CUT_OUT + title + stderr[:cut] + AGENT_CUT_ERR
    if len(stdout) < room / 2:
        cut = room - len(AGENT_CUT_ERR) - len(stdout)
        return stdout + title + stderr[:cut] + AGENT_CUT_ERR
    cut = room - len(AGENT_CUT_OUT) - len(stderr)
    return stdout[:cut] + AGENT_CUT_OUT + title + stderr


# --------------------------------------------------------------- recording
def _strip(elem):
    """The element with its namespace taken off every tag."""
    for e in elem.iter():
        if e.tag.startswith("{"):
            e.tag = e.tag.split("}", 1)[1]
    return elem


def _xml(elem):
    return ET.tostring(elem, encoding="unicode", short_empty_elements=False)


class Raw:
    """Unsigned requests to moto in its own protocols (moto does not check
    signatures); the answers as moto wrote them."""

    def __init__(self, endpoint):
        self.url = urllib.parse.urlparse(endpoint)

    def _post(self, headers, body, service):
        import http.client
        conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=600)
        headers = dict(headers, Authorization=(
            f"AWS4-HMAC-SHA256 Credential=testing/20250101/{REGION}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=0"))
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if resp.status != 200:
            raise RuntimeError(f"moto answered {resp.status}: {data[:300]!r}")
        return data

    def json(self, prefix, service, action, params):
        return json.loads(self._post({"X-Amz-Target": prefix + action,
                                      "Content-Type": JSON},
                                     json.dumps(params).encode(), service))

    def query(self, action, params):
        form = {"Action": action, "Version": "2016-11-15", **params}
        data = self._post({"Content-Type": "application/x-www-form-urlencoded"},
                          urllib.parse.urlencode(form).encode(), "ec2")
        return _strip(ET.fromstring(data))


def record(args):
    import sandbox
    sizes = [int(n) for n in args.hosts.split(",") if n]
    work = tempfile.mkdtemp(prefix="berth-record-")
    amis_path = os.path.join(work, "amis.json")
    with open(amis_path, "w") as f:
        json.dump([{
            "ami_id": ami_id, "name": name, "description": desc, "owner_id": owner,
            "platform": platform, "state": "available", "public": True,
            "architecture": "x86_64", "virtualization_type": "hvm", "hypervisor": "xen",
            "root_device_type": "ebs", "root_device_name": "/dev/xvda",
            "image_type": "machine", "sriov": "simple",
            "image_location": f"{alias or owner}/{name}",
            "creation_date": "2025-11-10T00:00:00.000Z",
        } for ami_id, name, desc, owner, platform, alias in sandbox.AMIS], f)
    os.environ.update({"MOTO_AMIS_PATH": amis_path, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
                       "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                       "AWS_EC2_METADATA_DISABLED": "true", "NO_PROXY": "127.0.0.1"})
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(var, None)
    import logging
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    import boto3
    from moto.ec2.models import ec2_backends
    from moto.ecs.models import ecs_backends
    from moto.server import ThreadedMotoServer
    from aws_emulation import (emulate_instance_lookups_at_scale,
                               emulate_ssm_and_instance_connect_endpoints)
    sandbox.emulate_ecs_container_instance_queries()
    sandbox.emulate_platform_details()
    tags_by_resource_id()
    emulate_ssm_and_instance_connect_endpoints(ec2_backends)
    emulate_instance_lookups_at_scale()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    session = boto3.session.Session(region_name=REGION)
    ec2 = session.client("ec2", endpoint_url=endpoint)
    ecs = session.client("ecs", endpoint_url=endpoint)
    account = session.client("sts", endpoint_url=endpoint).get_caller_identity()["Account"]
    ec2_be, ecs_be = ec2_backends[account][REGION], ecs_backends[account][REGION]
    ec2.create_key_pair(KeyName=sandbox.KEY_NAME)
    default_subnet = ec2.describe_subnets(Filters=[
        {"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
    sg = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [default_subnet["VpcId"]]},
        {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    tag = lambda rtype, **kv: [{"ResourceType": rtype,  # noqa: E731
                                "Tags": [{"Key": k, "Value": v} for k, v in kv.items()]}]
    for n in sizes:
        sandbox.build_container_instances(ec2, ecs, ec2_be, ecs_be, f"scale-{n}", n,
                                          default_subnet["SubnetId"], sg, tag,
                                          extra_tags={"sandbox:ssm-ping": "Online"})
    out = crawl(Raw(endpoint), sizes)
    server.stop()
    with open(args.out, "w") as f:
        json.dump(out, f)
    sandbox.log(f"recorded {sum(sizes)} hosts to {args.out}")


def tags_by_resource_id():
    """moto finds a resource's tags by matching its id, as a pattern,
    against every tag of the region: describing N instances costs N x
    (all tags), minutes for thousands. The same answer, read from its
    index by resource id (in this recording process only)."""
    from moto.ec2.models.core import TaggedEC2Resource
    from moto.ec2.models.tags import EC2_PREFIX_TO_RESOURCE
    from moto.ec2.utils import get_prefix

    def get_tags(self):
        if not self.id:
            return []
        kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
        return [{"resource_id": self.id, "key": k, "value": v, "resource_type": kind}
                for k, v in self.ec2_backend.tags.get(self.id, {}).items()]
    TaggedEC2Resource.get_tags = get_tags


def crawl(moto, sizes):
    """What moto answers about the scale clusters, item by item."""
    t0 = time.monotonic()
    clusters = []
    token = None
    while True:
        page = moto.json(ECS_PREFIX, "ecs", "ListClusters",
                         {"maxResults": 100, **({"nextToken": token} if token else {})})
        clusters += page.get("clusterArns", [])
        token = page.get("nextToken")
        if not token:
            break
    described = moto.json(ECS_PREFIX, "ecs", "DescribeClusters", {"clusters": clusters})
    rec = {"clusters": described["clusters"], "container_instances": {}, "instances": {},
           "reservations": {}, "images": {}, "instance_information": {}}
    image_ids = set()
    for n in sizes:
        cluster = f"scale-{n}"
        arns, token = [], None
        while True:
            page = moto.json(ECS_PREFIX, "ecs", "ListContainerInstances",
                             {"cluster": cluster, "maxResults": ECS_PAGE,
                              **({"nextToken": token} if token else {})})
            arns += page["containerInstanceArns"]
            token = page.get("nextToken")
            if not token:
                break
        cis = []
        for i in range(0, len(arns), ECS_DESCRIBE):
            cis += moto.json(ECS_PREFIX, "ecs", "DescribeContainerInstances",
                             {"cluster": cluster,
                              "containerInstances": arns[i:i + ECS_DESCRIBE]})["containerInstances"]
        by_arn = {ci["containerInstanceArn"]: ci for ci in cis}
        rec["container_instances"][cluster] = [by_arn[a] for a in arns]
        ids = [ci["ec2InstanceId"] for ci in cis]
        for i in range(0, len(ids), EC2_IDS):
            params = {f"InstanceId.{k}": v for k, v in enumerate(ids[i:i + EC2_IDS], 1)}
            root = moto.query("DescribeInstances", params)
            for res in root.find("reservationSet"):
                rid = res.findtext("reservationId")
                meta = [_xml(child) for child in res if child.tag != "instancesSet"]
                rec["reservations"][rid] = "".join(meta)
                for inst in res.find("instancesSet"):
                    iid = inst.findtext("instanceId")
                    rec["instances"][iid] = {"reservation": rid, "xml": _xml(inst)}
                    image_ids.add(inst.findtext("imageId"))
        for i in range(0, len(ids), SSM_INFO_PAGE):
            page = moto.json(SSM_PREFIX, "ssm", "DescribeInstanceInformation",
                             {"Filters": [{"Key": "InstanceIds",
                                           "Values": ids[i:i + SSM_INFO_PAGE]}]})
            for info in page["InstanceInformationList"]:
                rec["instance_information"][info["InstanceId"]] = info
    params = {f"ImageId.{k}": v for k, v in enumerate(sorted(image_ids), 1)}
    for image in moto.query("DescribeImages", params).find("imagesSet"):
        rec["images"][image.findtext("imageId")] = _xml(image)
    rec["seconds"] = round(time.monotonic() - t0, 1)
    return rec


# ----------------------------------------------------------------- serving
class Failure(Exception):
    """An AWS error answer: (code, message, HTTP status)."""

    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _token(kind, offset):
    return base64.b64encode(json.dumps([kind, offset]).encode()).decode()


def _offset(kind, token):
    if not token:
        return 0
    try:
        got, offset = json.loads(base64.b64decode(token))
    except (ValueError, TypeError):
        raise Failure("InvalidParameterException", "the next token is not valid") from None
    if got != kind:
        raise Failure("InvalidParameterException", "the next token is not for this request")
    return int(offset)


def _limit(value, low, high, default, name, code="InvalidParameterException"):
    if value is None:
        return default
    value = int(value)
    if not low <= value <= high:
        raise Failure(code, f"{name} must be between {low} and {high}")
    return value


class Fleet:
    """The recording, indexed for answering."""

    def __init__(self, rec, invocation_seconds):
        self.rec = rec
        self.clusters = {c["clusterName"]: c for c in rec["clusters"]}
        self.cluster_arns = {c["clusterArn"]: c for c in rec["clusters"]}
        self.cis = {}
        for name, cis in rec["container_instances"].items():
            self.cis[name] = {
                "list": cis,
                "by_arn": {ci["containerInstanceArn"]: json.dumps(ci) for ci in cis},
                "by_id": {ci["containerInstanceArn"].rsplit("/", 1)[1]: ci["containerInstanceArn"]
                          for ci in cis},
            }
        self.instances = rec["instances"]
        self.reservations = rec["reservations"]
        self.images = rec["images"]
        self.info = {k: json.dumps(v) for k, v in rec["instance_information"].items()}
        self.info_order = list(rec["instance_information"])
        self.invocation_seconds = invocation_seconds
        self.commands = {}  # command id -> (sent, document, [instance ids], output)
        self.command_order = []
        self.lock = threading.Lock()

    # ---- ECS
    def cluster(self, name):
        c = self.clusters.get(name) or self.cluster_arns.get(name)
        if c is None:
            raise Failure("ClusterNotFoundException", "Cluster not found.")
        return c

    def ecs(self, action, p):
        if action == "ListClusters":
            limit = _limit(p.get("maxResults"), 1, 100, 100, "maxResults")
            start = _offset("clusters", p.get("nextToken"))
            arns = [c["clusterArn"] for c in self.rec["clusters"]]
            page = {"clusterArns": arns[start:start + limit]}
            if start + limit < len(arns):
                page["nextToken"] = _token("clusters", start + limit)
            return json.dumps(page)
        if action == "DescribeClusters":
            names = p.get("clusters") or ["default"]
            if len(names) > ECS_DESCRIBE:
                raise Failure("InvalidParameterException", "clusters can have at most 100 items")
            found, failures = [], []
            for n in names:
                c = self.clusters.get(n) or self.cluster_arns.get(n)
                if c:
                    found.append(c)
                else:
                    failures.append({"arn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{n}",
                                     "reason": "MISSING"})
            return json.dumps({"clusters": found, "failures": failures})
        if action == "ListContainerInstances":
            name = self.cluster(p.get("cluster", "default"))["clusterName"]
            limit = _limit(p.get("maxResults"), 1, ECS_PAGE, ECS_PAGE, "maxResults")
            cis = self.cis.get(name, {"list": []})["list"]
            status = p.get("status")
            expr = p.get("filter")
            if status or expr:
                keep = _ci_filter(expr)
                cis = [ci for ci in cis if (not status or ci["status"] == status) and keep(ci)]
            kind = f"cis:{name}:{status}:{expr}"
            start = _offset(kind, p.get("nextToken"))
            page = {"containerInstanceArns": [ci["containerInstanceArn"]
                                              for ci in cis[start:start + limit]]}
            if start + limit < len(cis):
                page["nextToken"] = _token(kind, start + limit)
            return json.dumps(page)
        if action == "DescribeContainerInstances":
            name = self.cluster(p.get("cluster", "default"))["clusterName"]
            wanted = p.get("containerInstances") or []
            if not 1 <= len(wanted) <= ECS_DESCRIBE:
                raise Failure("InvalidParameterException",
                              "containerInstances must have 1 to 100 items")
            known = self.cis.get(name, {"by_arn": {}, "by_id": {}})
            found, failures = [], []
            for w in wanted:
                arn = w if w in known["by_arn"] else known["by_id"].get(w)
                if arn:
                    found.append(known["by_arn"][arn])
                else:
                    failures.append(json.dumps({"arn": w, "reason": "MISSING"}))
            return ('{"containerInstances": [' + ", ".join(found) + '], "failures": ['
                    + ", ".join(failures) + "]}")
        raise Failure("UnknownOperationException", f"{action} is not in the recording")

    # ---- EC2
    def ec2(self, action, form):
        ids = _members(form, "InstanceId") if action == "DescribeInstances" else \
            _members(form, "ImageId")
        filters = _filters(form)
        if action == "DescribeInstances":
            if len(ids) > EC2_IDS:
                raise Failure("InvalidParameterValue", "at most 1000 instance ids a call")
            for name in filters:
                if name != "instance-id":
                    raise Failure("InvalidParameterValue",
                                  f"filter {name} is not in the recording")
            if ids:
                missing = [i for i in ids if i not in self.instances]
                if missing:
                    raise Failure("InvalidInstanceID.NotFound",
                                  f"The instance ID '{missing[0]}' does not exist")
            elif "instance-id" in filters:
                ids = [i for i in filters["instance-id"] if i in self.instances]
            else:
                ids = list(self.instances)
            if "instance-id" in filters:
                ids = [i for i in ids if i in filters["instance-id"]]
            # One reservationSet item per reservation, in order of first use.
            groups = {}
            for i in dict.fromkeys(ids):
                groups.setdefault(self.instances[i]["reservation"], []).append(
                    self.instances[i]["xml"])
            body = "".join(f"<item>{self.reservations[r]}<instancesSet>{''.join(xs)}"
                           f"</instancesSet></item>" for r, xs in groups.items())
            return _ec2_answer("DescribeInstances", f"<reservationSet>{body}</reservationSet>")
        if action == "DescribeImages":
            for name in filters:
                if name != "image-id":
                    raise Failure("InvalidParameterValue",
                                  f"filter {name} is not in the recording")
            if ids:
                missing = [i for i in ids if i not in self.images]
                if missing:
                    raise Failure("InvalidAMIID.NotFound",
                                  f"The image id '[{missing[0]}]' does not exist")
            else:
                ids = [i for i in filters.get("image-id", self.images) if i in self.images]
            body = "".join(self.images[i] for i in dict.fromkeys(ids))
            return _ec2_answer("DescribeImages", f"<imagesSet>{body}</imagesSet>")
        raise Failure("InvalidAction", f"{action} is not in the recording")

    # ---- SSM
    def ssm(self, action, p):
        if action == "DescribeInstanceInformation":
            wanted = None
            for f in p.get("Filters") or []:
                if f.get("Key") == "InstanceIds":
                    wanted = f.get("Values") or []
                else:
                    raise Failure("InvalidFilterKey", f"filter {f.get('Key')} is not recorded")
            for f in p.get("InstanceInformationFilterList") or []:
                if f.get("key") == "InstanceIds":
                    wanted = f.get("valueSet") or []
                else:
                    raise Failure("InvalidFilterKey", f"filter {f.get('key')} is not recorded")
            if wanted is not None and len(wanted) > SSM_FILTER_VALUES:
                raise Failure("InvalidFilterValue", "at most 100 values a filter")
            limit = _limit(p.get("MaxResults"), 5, SSM_INFO_PAGE, SSM_INFO_PAGE, "MaxResults",
                           "ValidationException")
            ids = [i for i in (wanted if wanted is not None else self.info_order)
                   if i in self.info]
            kind = "info:" + hashlib.sha1(",".join(wanted or []).encode()).hexdigest()
            start = _offset(kind, p.get("NextToken"))
            page = '{"InstanceInformationList": [' + ", ".join(
                self.info[i] for i in ids[start:start + limit]) + "]"
            if start + limit < len(ids):
                page += f', "NextToken": "{_token(kind, start + limit)}"'
            return page + "}"
        if action == "SendCommand":
            return json.dumps(self.send_command(p))
        if action == "ListCommandInvocations":
            return json.dumps(self.list_invocations(p))
        if action == "GetCommandInvocation":
            return json.dumps(self.get_invocation(p))
        raise Failure("InvalidAction", f"{action} is not in the recording")

    def send_command(self, p):
        document = p.get("DocumentName")
        if document not in ("AWS-RunShellScript", "AWS-RunPowerShellScript"):
            raise Failure("InvalidDocument", f"document {document} is not simulated")
        if p.get("Targets"):
            raise Failure("ValidationException", "the simulation takes InstanceIds, not Targets")
        ids = p.get("InstanceIds") or []
        if not 1 <= len(ids) <= RUN_COMMAND_MAX:
            raise Failure("ValidationException", "InstanceIds must have 1 to 50 members")
        for i in ids:
            info = self.rec["instance_information"].get(i)
            if info is None or info.get("PingStatus") != "Online":
                raise Failure("InvalidInstanceId",
                              "Instances not in a valid state for account " + ACCOUNT)
        commands = (p.get("Parameters") or {}).get("commands") or []
        output = _simulated_run("\n".join(commands))
        command_id = str(uuid.uuid4())
        sent = time.time()
        with self.lock:
            self.commands[command_id] = (sent, document, list(ids), output)
            self.command_order.append(command_id)
        return {"Command": {"CommandId": command_id, "DocumentName": document,
                            "InstanceIds": ids, "Parameters": p.get("Parameters") or {},
                            "Status": "Pending", "TargetCount": len(ids), "CompletedCount": 0,
                            "ErrorCount": 0, "RequestedDateTime": sent}}

    def _invocation(self, command_id, instance_id, details):
        sent, document, _, (stdout, stderr) = self.commands[command_id]
        age = time.time() - sent
        status = ("Success" if age >= self.invocation_seconds
                  else "InProgress" if age >= min(1.0, self.invocation_seconds / 2) else "Pending")
        code = 0 if status == "Success" else -1
        entry = {"CommandId": command_id, "InstanceId": instance_id,
                 "DocumentName": document, "Status": status, "StatusDetails": status,
                 "RequestedDateTime": sent}
        if details:
            entry["CommandPlugins"] = [{
                "Name": "aws:runShellScript" if document == "AWS-RunShellScript"
                else "aws:runPowerShellScript",
                "Status": status, "StatusDetails": status, "ResponseCode": code,
                "Output": (_agent_output(stdout, stderr)
                           if status == "Success" else "")[:LIST_OUTPUT_LIMIT]}]
        done = status == "Success"
        return entry, (stdout if done else "", stderr if done else ""), code

    def list_invocations(self, p):
        command_id, instance_id = p.get("CommandId"), p.get("InstanceId")
        limit = _limit(p.get("MaxResults"), 1, INVOCATIONS_PAGE, INVOCATIONS_PAGE, "MaxResults",
                       "ValidationException")
        if p.get("Filters"):
            raise Failure("InvalidFilter", "the simulation takes no Filters")
        with self.lock:
            if command_id and command_id not in self.commands:
                raise Failure("InvalidCommandId", "the command id is not known")
            pairs = [(c, i) for c in ([command_id] if command_id else self.command_order)
                     for i in self.commands[c][2] if instance_id in (None, i)]
        kind = f"inv:{command_id}:{instance_id}"
        start = _offset(kind, p.get("NextToken"))
        page = {"CommandInvocations": [self._invocation(c, i, p.get("Details", False))[0]
                                       for c, i in pairs[start:start + limit]]}
        if start + limit < len(pairs):
            page["NextToken"] = _token(kind, start + limit)
        return page

    def get_invocation(self, p):
        command_id, instance_id = p.get("CommandId"), p.get("InstanceId")
        with self.lock:
            known = command_id in self.commands and instance_id in self.commands[command_id][2]
        if not known:
            raise Failure("InvocationDoesNotExist",
                          "An invocation cannot be retrieved for that command and instance")
        entry, (stdout, stderr), code = self._invocation(command_id, instance_id, False)
        return {"CommandId": command_id, "InstanceId": instance_id,
                "DocumentName": entry["DocumentName"], "Status": entry["Status"],
                "StatusDetails": entry["StatusDetails"], "ResponseCode": code,
                "StandardOutputContent": stdout[:GET_STDOUT_LIMIT],
                "StandardErrorContent": stderr[:GET_STDERR_LIMIT]}


def _ci_filter(expr):
    import re
    if not expr:
        return lambda ci: True
    ident = r"[A-Za-z0-9_:.-]+"
    if m := re.match(rf"^\s*ec2InstanceId\s*==\s*({ident})\s*$", expr):
        return lambda ci: ci["ec2InstanceId"] == m.group(1)
    if m := re.match(rf"^\s*ec2InstanceId\s+in\s*\[\s*({ident}(?:\s*,\s*{ident})*)\s*\]\s*$",
                     expr):
        ids = {part.strip() for part in m.group(1).split(",")}
        return lambda ci: ci["ec2InstanceId"] in ids
    raise Failure("InvalidParameterException", f"filter expression {expr!r} is not recorded")


def _members(form, name):
    """`Name.1`, `Name.2`, … of a query-protocol form, in order."""
    found = []
    for k, v in form.items():
        head, _, n = k.partition(".")
        if head == name and n.isdigit():
            found.append((int(n), v))
    return [v for _, v in sorted(found)]


def _filters(form):
    """`Filter.N.Name` / `Filter.N.Value.M` as {name: [values]}."""
    names = {}
    for k, v in form.items():
        parts = k.split(".")
        if parts[0] == "Filter" and len(parts) == 3 and parts[2] == "Name":
            names[parts[1]] = v
    return {name: _members(form, f"Filter.{n}.Value") for n, name in names.items()}


def _ec2_answer(action, inner):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{action}Response xmlns="{EC2_NS}">'
            f"<requestId>{uuid.uuid4()}</requestId>{inner}</{action}Response>")


THROTTLE = {"query": (503, "RequestLimitExceeded", "Request limit exceeded."),
            "json": (400, "ThrottlingException", "Rate exceeded")}


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, fleet, latency, rules, log_path):
        self.fleet, self.latency, self.rules, self.log_path = fleet, latency, rules, log_path
        self.lock = threading.Lock()
        self.calls = {}
        self.spans = []
        super().__init__(("127.0.0.1", 0), Handler)

    def pick_fault(self, operation):
        with self.lock:
            for rule in self.rules:
                if rule.get("operation", "*") not in ("*", operation):
                    continue
                if rule.get("after", 0) > 0:
                    rule["after"] -= 1
                    continue
                times = rule.get("times")
                if times is not None:
                    if times <= 0:
                        continue
                    rule["times"] = times - 1
                return rule.get("fault")
        return None

    def note(self, operation, fault, span):
        with self.lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            self.spans.append(span)
            if self.log_path:
                with open(self.log_path, "a") as f:
                    f.write(json.dumps({"operation": operation, "fault": fault,
                                        "at": round(time.time(), 3)}) + "\n")

    def busy(self):
        """Seconds with at least one request in hand (overlaps counted once)."""
        total, end = 0.0, float("-inf")
        for start, stop in sorted(self.spans):
            if stop > end:
                total += stop - max(start, end)
                end = stop
        return total

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *_):
        pass

    def reply(self, status, ctype, body, extra=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        if self.path == "/_stats":
            with self.server.lock:
                body = json.dumps({"calls": self.server.calls, "busy_s": self.server.busy(),
                                   "requests": len(self.server.spans)})
            return self.reply(200, "application/json", body)
        return self.reply(404, "text/plain", "not found")

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/_reset":
            with self.server.lock:
                self.server.calls, self.server.spans = {}, []
            return self.reply(200, "application/json", "{}")
        if self.path == "/_rules":
            with self.server.lock:
                self.server.rules = json.loads(body or b"[]")
            return self.reply(200, "application/json", "{}")
        target = self.headers.get("X-Amz-Target")
        if target:
            protocol, operation = "json", target.rsplit(".", 1)[-1]
        else:
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                               keep_blank_values=True))
            protocol, operation = "query", form.get("Action", "?")
        if self.server.latency:
            time.sleep(self.server.latency)
        started = time.perf_counter()
        fault = self.server.pick_fault(operation)
        fleet = self.server.fleet
        try:
            if fault == "throttle":
                status, code, message = THROTTLE[protocol]
                raise Failure(code, message, status)
            if fault:
                raise Failure("InternalFailure", f"fault {fault} is not simulated here", 500)
            if protocol == "json" and target.startswith(ECS_PREFIX):
                answer = fleet.ecs(operation, json.loads(body or b"{}"))
            elif protocol == "json" and target.startswith(SSM_PREFIX):
                answer = fleet.ssm(operation, json.loads(body or b"{}"))
            elif protocol == "query":
                answer = fleet.ec2(operation, form)
            else:
                raise Failure("UnknownOperationException", f"{target} is not recorded")
            ctype = JSON if protocol == "json" else "text/xml;charset=UTF-8"
            self.reply(200, ctype, answer)
        except Failure as e:
            if protocol == "query":
                self.reply(e.status, "text/xml;charset=UTF-8",
                           f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                           f"<Code>{e.code}</Code><Message>{e.message}</Message></Error></Errors>"
                           f"<RequestID>{uuid.uuid4()}</RequestID></Response>")
            else:
                self.reply(e.status, JSON, json.dumps({"__type": e.code, "message": e.message}),
                           [("x-amzn-ErrorType", e.code)])
        self.server.note(operation, fault, (started, time.perf_counter()))


def serve(args):
    with open(args.recording) as f:
        fleet = Fleet(json.load(f), args.invocation_seconds)
    if args.log:
        open(args.log, "a").close()
    server = Server(fleet, args.latency_ms / 1000, json.loads(args.rules), args.log)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address
    sys.stdout.write(json.dumps({
        "endpoint": f"http://{host}:{port}", "region": REGION,
        "clusters": {name: len(c["list"]) for name, c in fleet.cis.items()}}) + "\n")
    sys.stdout.flush()
    try:
        while sys.stdin.read(65536):
            pass
    except (OSError, ValueError, KeyboardInterrupt):
        pass
    server.shutdown()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--hosts", required=True, help="fleet sizes, comma-separated")
    rec.add_argument("--out", required=True)
    srv = sub.add_parser("serve")
    srv.add_argument("--recording", required=True)
    srv.add_argument("--latency-ms", type=float, default=0.0)
    srv.add_argument("--rules", default="[]")
    srv.add_argument("--invocation-seconds", type=float, default=3.0)
    srv.add_argument("--log")
    args = ap.parse_args()
    if args.mode == "record":
        record(args)
    else:
        serve(args)


if __name__ == "__main__":
    main()
