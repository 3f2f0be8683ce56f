"""ECS Exec for the Session Manager stand-in (``ssm_standin.py``): the ECS
side of ``aws ecs execute-command``, faithful to the ECS API reference.

moto's ECS has no ExecuteCommand and its tasks carry neither
``enableExecuteCommand`` nor ``managedAgents``. The stand-in owns the tasks
its config lists under ``ecs.tasks`` and serves them itself:

- ``DescribeTasks``: those tasks as ECS describes them (``enableExecuteCommand``,
  ``launchType``, ``platformVersion``, each container's ``managedAgents`` with
  the ``ExecuteCommandAgent``); ids it does not own are asked of the upstream
  (moto) and the answers merged.
- ``ListTasks``: the upstream's answer plus the owned tasks matching
  ``cluster``, ``containerInstance``, ``serviceName``, ``desiredStatus``.
- ``ExecuteCommand`` ``{cluster, container, command, interactive, task}``:
  ``interactive`` must be true; the task must be RUNNING, have
  ``enableExecuteCommand`` and its container's agent RUNNING, else the
  service's InvalidParameterException; ``container`` is required when the
  task has several. The answer is ``{clusterArn, containerArn, containerName,
  interactive, session: {sessionId, streamUrl, tokenValue}, taskArn}`` and
  the session (id ``ecs-execute-command-…``, document
  AmazonECS-ExecuteInteractiveCommand, target
  ``ecs:CLUSTER_TASKID_RUNTIMEID``) is served by the stand-in's data channel.

The container: a real process on this machine, started as the agent in a
container starts it (the command split shell-style, run without a shell on
a pty), in a mount and UTS namespace of its own (``unshare``, which needs
root) where the container's own ``/etc/hostname`` (from its ``hostname``
config, in a private root directory) is bind-mounted over the host's and
the hostname is set: ``cat /etc/hostname`` tells the container from the
host. The executable is looked up in the container's ``PATH`` (its ``env``);
when it is not there the session prints the agent's error and ends, as a
container without ``sh`` does.

Config (under the stand-in's ``ecs`` key)::

    {"tasks": {"<32-hex task id>": {
        "cluster": "prod", "launch_type": "FARGATE" | "EC2",
        "container_instance_arn": "arn:…" (EC2 only),
        "platform_version": "1.4.0" (Fargate), "enable_execute_command": true,
        "group": "service:api", "task_definition": "api:3",
        "last_status": "RUNNING",
        "containers": {"app": {"agent": "RUNNING" | "STOPPED" | "PENDING" | null,
                                "hostname": "marker", "env": {"PATH": "…"},
                                "runtime_id": "…"}}}},
     "deny_execute_command": false}
"""
import json
import os
from xml.sax.saxutils import escape
import secrets
import shlex
import shutil
import tempfile
import time

EXEC_DOCUMENT = "AmazonECS-ExecuteInteractiveCommand"
NOT_ENABLED = ("The execute command failed because execute command was not enabled when the task "
               "was run or the execute command agent isn't running. Wait and try again or run a new "
               "task with execute command enabled and try again.")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class EcsApiError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class EcsExec:
    """The owned tasks and the ECS operations on them."""

    OPS = ("DescribeTasks", "ListTasks", "ExecuteCommand", "DescribeClusters",
           "DescribeTaskDefinition")

    def __init__(self, config, region, account, caller):
        self.region, self.account, self.caller = region, account, caller
        self.deny = bool(config.get("deny_execute_command"))
        self.tasks = config.get("tasks") or {}
        self.clusters = config.get("clusters") or {}
        self.kms_key_id = config.get("kms_key_id")
        self.roots = tempfile.mkdtemp(prefix="ecs-exec-standin-")
        self.started = time.time()
        for task_id, task in self.tasks.items():
            for name, c in (task.get("containers") or {}).items():
                c.setdefault("runtime_id", f"{task_id}-{secrets.token_hex(4)}")
                root = os.path.join(self.roots, task_id, name)
                os.makedirs(os.path.join(root, "etc"), exist_ok=True)
                with open(os.path.join(root, "etc", "hostname"), "w") as f:
                    f.write((c.get("hostname") or name) + "\n")
                c["root"] = root

    # -- names

    def cluster_arn(self, cluster):
        return f"arn:aws:ecs:{self.region}:{self.account}:cluster/{cluster}"

    def task_arn(self, task_id):
        return f"arn:aws:ecs:{self.region}:{self.account}:task/{self.tasks[task_id]['cluster']}/{task_id}"

    @staticmethod
    def cluster_name(value):
        value = value or "default"
        return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value

    def owned(self, ref, cluster=None):
        """The id of an owned task named by `ref` (id or ARN), or None."""
        task_id = (ref or "").rsplit("/", 1)[-1]
        task = self.tasks.get(task_id)
        if task is None or (cluster is not None and task["cluster"] != self.cluster_name(cluster)):
            return None
        return task_id

    def kms_key(self, task_id):
        """The key the task's sessions are encrypted with: its cluster's
        executeCommandConfiguration.kmsKeyId, else the config's `kms_key_id`."""
        cluster = self.clusters.get(self.tasks[task_id]["cluster"], {})
        return (cluster.get("executeCommandConfiguration") or {}).get("kmsKeyId") or self.kms_key_id

    # -- shapes

    def describe(self, task_id):
        t = self.tasks[task_id]
        arn = self.task_arn(task_id)
        launch = t.get("launch_type", "FARGATE")
        status = t.get("last_status", "RUNNING")
        containers = []
        for name, c in (t.get("containers") or {}).items():
            container = {
                "containerArn": f"arn:aws:ecs:{self.region}:{self.account}:container/{t['cluster']}/{task_id}/{c['runtime_id'][-12:]}",
                "taskArn": arn, "name": name, "image": c.get("image", "public.ecr.aws/docker/library/busybox"),
                "runtimeId": c["runtime_id"], "lastStatus": c.get("last_status", status),
                "networkInterfaces": [], "healthStatus": "UNKNOWN",
            }
            if t.get("enable_execute_command") and c.get("agent") is not None:
                container["managedAgents"] = [{
                    "lastStartedAt": self.started, "name": "ExecuteCommandAgent",
                    "lastStatus": c["agent"],
                    **({"reason": c["agent_reason"]} if c.get("agent_reason") else {}),
                }]
            containers.append(container)
        task = {
            "taskArn": arn, "clusterArn": self.cluster_arn(t["cluster"]),
            "taskDefinitionArn": f"arn:aws:ecs:{self.region}:{self.account}:task-definition/{t.get('task_definition', 'app:1')}",
            "lastStatus": status, "desiredStatus": t.get("desired_status", "RUNNING"),
            "launchType": launch, "enableExecuteCommand": bool(t.get("enable_execute_command")),
            "containers": containers, "createdAt": self.started, "startedAt": self.started,
            "version": 3, "cpu": "256", "memory": "512", "connectivity": "CONNECTED",
        }
        if t.get("group"):
            task["group"] = t["group"]
            if t["group"].startswith("service:"):
                task["startedBy"] = "ecs-svc/0123456789012345678"
        if t.get("subnet_id"):
            task["attachments"] = [{
                "id": f"{task_id[:8]}-0000-4000-8000-{task_id[-12:]}", "type": "ElasticNetworkInterface",
                "status": "ATTACHED",
                "details": [{"name": "subnetId", "value": t["subnet_id"]},
                            {"name": "networkInterfaceId", "value": f"eni-{task_id[:17]}"},
                            {"name": "privateIPv4Address", "value": "127.0.0.1"}]}]
        if launch == "EC2":
            task["containerInstanceArn"] = t.get("container_instance_arn", "")
        else:
            task["platformVersion"] = t.get("platform_version", "1.4.0")
            task["platformFamily"] = "Linux"
        return task

    # -- operations (`upstream(op, request)` -> (status, body) or None)

    def describe_tasks(self, req, upstream):
        cluster = req.get("cluster")
        mine = [r for r in req.get("tasks") or [] if self.owned(r, cluster)]
        rest = [r for r in req.get("tasks") or [] if not self.owned(r, cluster)]
        out = {"tasks": [self.describe(self.owned(r, cluster)) for r in mine], "failures": []}
        if rest:
            answer = upstream("DescribeTasks", dict(req, tasks=rest))
            if answer is not None and answer[0] == 200:
                out["tasks"] += answer[1].get("tasks", [])
                out["failures"] += answer[1].get("failures", [])
            elif answer is not None and not mine:
                raise EcsApiError(answer[1].get("__type", "ClientException"),
                                  answer[1].get("message", ""), answer[0])
            else:
                out["failures"] += [{"arn": r, "reason": "MISSING"} for r in rest]
        return out

    def list_tasks(self, req, upstream):
        cluster = self.cluster_name(req.get("cluster"))
        answer = upstream("ListTasks", req)
        arns = answer[1].get("taskArns", []) if answer is not None and answer[0] == 200 else []
        next_token = answer[1].get("nextToken") if answer is not None and answer[0] == 200 else None
        if req.get("serviceName") and arns:
            # moto ignores serviceName: keep the service's tasks, as ECS does.
            described = upstream("DescribeTasks", {"cluster": req.get("cluster"), "tasks": arns})
            tasks = described[1].get("tasks", []) if described and described[0] == 200 else []
            arns = [t["taskArn"] for t in tasks if t.get("group") == f"service:{req['serviceName']}"]
        for task_id, t in self.tasks.items():
            if t["cluster"] != cluster:
                continue
            if req.get("containerInstance") and (
                    t.get("container_instance_arn") or "").rsplit("/", 1)[-1] != req["containerInstance"].rsplit("/", 1)[-1]:
                continue
            if req.get("serviceName") and t.get("group") != f"service:{req['serviceName']}":
                continue
            if req.get("desiredStatus", "RUNNING") != t.get("desired_status", "RUNNING"):
                continue
            if self.task_arn(task_id) not in arns:
                arns.append(self.task_arn(task_id))
        out = {"taskArns": arns}
        if next_token:
            out["nextToken"] = next_token
        return out

    def describe_clusters(self, req, upstream):
        """The upstream's answer, with the configured clusters'
        `configuration.executeCommandConfiguration` when CONFIGURATIONS is
        included."""
        answer = upstream("DescribeClusters", req)
        if answer is None or answer[0] != 200:
            raise EcsApiError("ClientException", "no upstream for DescribeClusters", 400)
        out = answer[1]
        if "CONFIGURATIONS" in (req.get("include") or []):
            for cluster in out.get("clusters", []):
                config = self.clusters.get(cluster.get("clusterName"), {})
                if config.get("executeCommandConfiguration"):
                    cluster["configuration"] = {
                        "executeCommandConfiguration": config["executeCommandConfiguration"]}
        return out

    def describe_task_definition(self, req, upstream):
        """An owned task's definition (`family:revision`, its taskRoleArn);
        others from the upstream."""
        ref = (req.get("taskDefinition") or "").rsplit("/", 1)[-1]
        for t in self.tasks.values():
            if t.get("task_definition", "app:1") == ref:
                family, _, revision = ref.partition(":")
                definition = {
                    "taskDefinitionArn": f"arn:aws:ecs:{self.region}:{self.account}:task-definition/{ref}",
                    "family": family, "revision": int(revision or 1), "status": "ACTIVE",
                    "networkMode": "awsvpc" if t.get("launch_type", "FARGATE") == "FARGATE" else "bridge",
                    "requiresCompatibilities": [t.get("launch_type", "FARGATE")],
                    "containerDefinitions": [{"name": n, "image": c.get("image", "busybox"), "essential": True}
                                             for n, c in (t.get("containers") or {}).items()],
                }
                if t.get("task_role_arn"):
                    definition["taskRoleArn"] = t["task_role_arn"]
                return {"taskDefinition": definition}
        answer = upstream("DescribeTaskDefinition", req)
        if answer is None:
            raise EcsApiError("ClientException", "Unable to describe task definition.")
        if answer[0] != 200:
            raise EcsApiError(answer[1].get("__type", "ClientException"), answer[1].get("message", ""),
                              answer[0])
        return answer[1]

    def execute_command(self, req):
        """Checks the request as ECS does; returns (task id, container name,
        container config, command) for the session to start."""
        for field in ("command", "task"):
            if not isinstance(req.get(field), str) or not req[field]:
                raise EcsApiError("InvalidParameterException", f"{field} can not be blank.")
        if "interactive" not in req:
            raise EcsApiError("InvalidParameterException", "interactive can not be null.")
        if req["interactive"] is not True:
            raise EcsApiError("InvalidParameterException",
                              "Interactive is the only mode supported currently.")
        cluster = self.cluster_name(req.get("cluster"))
        task_id = self.owned(req["task"], cluster)
        if task_id is None:
            raise EcsApiError("InvalidParameterException", "The specified task is not found.")
        if self.deny:
            raise EcsApiError("AccessDeniedException",
                              f"User: arn:aws:iam::{self.account}:user/{self.caller} is not authorized to "
                              f"perform: ecs:ExecuteCommand on resource: {self.task_arn(task_id)} because "
                              "no identity-based policy allows the ecs:ExecuteCommand action")
        t = self.tasks[task_id]
        if t.get("last_status", "RUNNING") != "RUNNING":
            raise EcsApiError("InvalidParameterException",
                              "The execute command failed because the task is not in a RUNNING state.")
        containers = t.get("containers") or {}
        name = req.get("container")
        if name is None:
            if len(containers) != 1:
                raise EcsApiError("InvalidParameterException",
                                  "Task has multiple containers. A container name must be specified.")
            name = next(iter(containers))
        if name not in containers:
            raise EcsApiError("InvalidParameterException",
                              f"The container {name} does not exist in the task.")
        c = containers[name]
        if not t.get("enable_execute_command") or c.get("agent") != "RUNNING":
            raise EcsApiError("InvalidParameterException", NOT_ENABLED)
        if t.get("execute_command_error"):
            # What ECS answers when the agent cannot be reached after all.
            raise EcsApiError(t["execute_command_error"],
                              "The execute command failed due to an internal error. Try again later.")
        return task_id, name, c, req["command"]

    def answer(self, task_id, name, session):
        t = self.tasks[task_id]
        c = t["containers"][name]
        return {
            "clusterArn": self.cluster_arn(t["cluster"]),
            "containerArn": f"arn:aws:ecs:{self.region}:{self.account}:container/{t['cluster']}/{task_id}/{c['runtime_id'][-12:]}",
            "containerName": name, "interactive": True,
            "session": {"sessionId": session["SessionId"], "streamUrl": session["StreamUrl"],
                        "tokenValue": session["TokenValue"]},
            "taskArn": self.task_arn(task_id),
        }

    def target(self, task_id, name):
        t = self.tasks[task_id]
        return f"ecs:{t['cluster']}_{task_id}_{t['containers'][name]['runtime_id']}"


def container_argv(container, command):
    """The container's process for `command` as the agent runs it (split
    shell-style, no shell), in its own mount and UTS namespace; None when
    the executable is not on the container's PATH (with the agent's
    message)."""
    words = shlex.split(command)
    if not words:
        return None, "Unable to start command: exec: no command\r\n"
    path = (container.get("env") or {}).get("PATH", DEFAULT_PATH)
    exe = words[0] if "/" in words[0] else shutil.which(words[0], path=path)
    if exe is None or not os.access(exe, os.X_OK):
        return None, f'Unable to start command: exec: "{words[0]}": executable file not found in $PATH\r\n'
    hostname_file = os.path.join(container["root"], "etc", "hostname")
    hostname = container.get("hostname") or "container"
    setup = 'mount --bind "$1" /etc/hostname && hostname "$2" && shift 2 && exec "$@"'
    return ["unshare", "--mount", "--uts", "--propagation", "private", "--", "/bin/sh", "-c", setup,
            "ecs-container", hostname_file, hostname, exe, *words[1:]], None


def dumps(obj):
    return json.dumps(obj)


class IamSimulator:
    """iam:SimulatePrincipalPolicy (query protocol, XML) for the fixtures'
    principals: `{"allow": {PRINCIPAL_ARN: [ACTION or "service:*"]},
    "deny_simulate": false}`. An unknown principal is NoSuchEntity; with
    `deny_simulate` the caller may not simulate (AccessDenied)."""

    XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"

    def __init__(self, config, account, caller):
        self.allow = config.get("allow") or {}
        self.deny = bool(config.get("deny_simulate"))
        self.account, self.caller = account, caller

    @staticmethod
    def members(form, name):
        out, i = [], 1
        while f"{name}.member.{i}" in form:
            out.append(form[f"{name}.member.{i}"])
            i += 1
        return out

    def simulate(self, form):
        """(status, XML body)."""
        request_id = secrets.token_hex(16)
        if self.deny:
            return 403, self.error("Sender", "AccessDenied",
                                   f"User: arn:aws:iam::{self.account}:user/{self.caller} is not authorized to "
                                   "perform: iam:SimulatePrincipalPolicy", request_id)
        principal = form.get("PolicySourceArn", "")
        if principal not in self.allow:
            return 404, self.error("Sender", "NoSuchEntity",
                                   f"The principal {principal} cannot be found.", request_id)
        allowed = self.allow[principal]
        resources = self.members(form, "ResourceArns") or ["*"]
        results = []
        for action in self.members(form, "ActionNames"):
            ok = action in allowed or f"{action.split(':')[0]}:*" in allowed or "*" in allowed
            decision = "allowed" if ok else "implicitDeny"
            results.append(
                f"<member><EvalActionName>{escape(action)}</EvalActionName>"
                f"<EvalResourceName>{escape(resources[0])}</EvalResourceName>"
                f"<EvalDecision>{decision}</EvalDecision><MatchedStatements/>"
                f"<MissingContextValues/></member>")
        body = (f'<SimulatePrincipalPolicyResponse xmlns="{self.XMLNS}"><SimulatePrincipalPolicyResult>'
                f"<IsTruncated>false</IsTruncated><EvaluationResults>{''.join(results)}</EvaluationResults>"
                f"</SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>{request_id}</RequestId>"
                f"</ResponseMetadata></SimulatePrincipalPolicyResponse>")
        return 200, body

    def error(self, kind, code, message, request_id):
        return (f'<ErrorResponse xmlns="{self.XMLNS}"><Error><Type>{kind}</Type><Code>{code}</Code>'
                f"<Message>{escape(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
