#!/usr/bin/env python3
"""A stand-in for AWS Session Manager: the SSM control plane (StartSession,
ResumeSession, TerminateSession, DescribeInstanceInformation), the
``ssmmessages`` data channel (a websocket speaking the agent's binary
protocol) and the SSM agent behind it (a pty shell, commands, port
forwarding with or without smux), plus a tiny KMS (GenerateDataKey,
Decrypt) for encrypted sessions. It follows ../../../shared/ssm-protocol.md
(the agent's side of the wire) and is written independently of berth's
Rust codec, so it can catch berth's mistakes.

Usage:

    ssm_standin.py [--config FILE | --config-json JSON] [--instance ID=ADDR ...]
                   [--faults JSON] [--log FILE] [--port N] [--ws-port N]
                   [--upstream http://127.0.0.1:PORT]

It listens on 127.0.0.1 (free ports unless given), prints one JSON line
``{"endpoint": "http://127.0.0.1:P", "stream": "ws://127.0.0.1:Q",
"control": "http://127.0.0.1:P/faults", "log": FILE}`` on stdout, and serves
until its stdin reaches EOF (or SIGTERM/SIGINT). Point a client at it with
``AWS_ENDPOINT_URL_SSM`` (and ``AWS_ENDPOINT_URL_KMS``: KMS is served on the
same endpoint). With ``--upstream`` every request it does not serve
(another X-Amz-Target, EC2 query calls) is forwarded there (e.g. moto), so
one endpoint can serve everything. See ssm_standin.md for the config, the
fault switches and the log format.

Everything stays on 127.0.0.0/8: port sessions only dial loopback addresses.
"""

import argparse
import asyncio
import base64
import collections
import errno
import fcntl
import hashlib
import http.client
import ipaddress
import json
import os
import pty
import secrets
import signal
import ssl
import struct
import sys
import termios
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import websockets
from websockets.asyncio.server import serve as ws_serve
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ecs_exec_standin import EXEC_DOCUMENT, EcsApiError, EcsExec, IamSimulator, container_argv

# ----------------------------------------------------------------- protocol

HEADER_LENGTH = 116
PAYLOAD_OFFSET = HEADER_LENGTH + 4
SCHEMA_VERSION = 1

INPUT = "input_stream_data"
OUTPUT = "output_stream_data"
ACK = "acknowledge"
CHANNEL_CLOSED = "channel_closed"
START_PUBLICATION = "start_publication"
PAUSE_PUBLICATION = "pause_publication"

PT_OUTPUT, PT_ERROR, PT_SIZE, PT_PARAMETER = 1, 2, 3, 4
PT_HANDSHAKE_REQUEST, PT_HANDSHAKE_RESPONSE, PT_HANDSHAKE_COMPLETE = 5, 6, 7
PT_ENC_CHALLENGE_REQUEST, PT_ENC_CHALLENGE_RESPONSE = 8, 9
PT_FLAG, PT_STDERR, PT_EXIT_CODE = 10, 11, 12
PAYLOAD_TYPE_NAMES = {
    0: "None", 1: "Output", 2: "Error", 3: "Size", 4: "Parameter", 5: "HandshakeRequest",
    6: "HandshakeResponse", 7: "HandshakeComplete", 8: "EncChallengeRequest",
    9: "EncChallengeResponse", 10: "Flag", 11: "StdErr", 12: "ExitCode",
}
FLAG_DISCONNECT_TO_PORT, FLAG_TERMINATE_SESSION, FLAG_CONNECT_TO_PORT_ERROR = 1, 2, 3

ACK_FLAGS = 3
READ_SIZE = 1024                 # the agent reads at most this much per message
OUTGOING_CAPACITY = 10_000       # messages in flight before readers wait
INCOMING_CAPACITY = 100_000      # the agent's out-of-order buffer
RESEND_TICK = 0.1
HANDSHAKE_TIMEOUT = 15.0
HANDSHAKE_TIMEOUT_MESSAGE = ("Handshake timed out. Please ensure that you have the latest "
                             "version of the session manager plugin.")
SMUX_CLIENT_MIN = (1, 1, 70)        # client version from which the agent multiplexes
SMUX_AGENT_MIN = (3, 0, 196, 1)     # agents up to 3.0.196.0 have no smux at all
SMUX_KEEPALIVE_CLIENT_MAX = (1, 2, 331, 0)  # agent sends NOPs to clients up to this
DEFAULT_AGENT_VERSION = "3.3.987.0"

SMUX_SYN, SMUX_FIN, SMUX_PSH, SMUX_NOP = 0, 1, 2, 3
SMUX_RECEIVE_BUCKET = 4 * 1024 * 1024

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")

SHELL_DOCUMENT = "SSM-SessionManagerRunShell"
DOCUMENTS = {
    SHELL_DOCUMENT: "Standard_Stream",
    "AWS-StartSSHSession": "Port",
    "AWS-StartPortForwardingSession": "Port",
    "AWS-StartPortForwardingSessionToRemoteHost": "Port",
    "AWS-StartInteractiveCommand": "InteractiveCommands",
    "AWS-StartNonInteractiveCommand": "NonInteractiveCommands",
    "AmazonECS-ExecuteInteractiveCommand": "InteractiveCommands",
}


def swap_halves(b16):
    return b16[8:] + b16[:8]


_HEADER = struct.Struct(">I32sIqqq16s32sII")
_MTYPES = {}


def new_message_id():
    """UUID v4 bytes (cheaper than uuid.uuid4() at tens of thousands a second)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return bytes(b)


def encode_message(message_type, sequence, flags, payload_type, payload, message_id=None,
                   created_ms=None, digest=None):
    """One binary frame (§3). Returns (bytes, canonical message id)."""
    mid = message_id.bytes if message_id is not None else new_message_id()
    if created_ms is None:
        created_ms = int(time.time() * 1000)
    if digest is None:
        digest = hashlib.sha256(payload).digest()
    mtype = _MTYPES.get(message_type)
    if mtype is None:
        mtype = _MTYPES[message_type] = message_type.encode().ljust(32, b" ")
    header = _HEADER.pack(HEADER_LENGTH, mtype, SCHEMA_VERSION, created_ms, sequence, flags,
                          mid[8:] + mid[:8], digest, payload_type, len(payload))
    return header + payload, mid


class BadMessage(Exception):
    pass


class Message:
    __slots__ = ("type", "schema", "created", "seq", "flags", "raw_id", "digest", "payload_type",
                 "payload", "digest_ok")

    @property
    def id(self):
        """The canonical (unswapped) UUID string."""
        return str(uuid.UUID(bytes=swap_halves(self.raw_id)))


def decode_message(data):
    if len(data) < PAYLOAD_OFFSET:
        raise BadMessage(f"{len(data)} bytes is shorter than a header")
    (hlen, mtype, schema, created, seq, flags, mid, digest, ptype,
     plen) = _HEADER.unpack_from(data)
    if hlen == 0:
        raise BadMessage("HeaderLength is 0")
    start = hlen + 4
    payload = bytes(data[start:start + plen])
    if len(payload) != plen:
        raise BadMessage(f"PayloadLength {plen} but {len(data) - start} bytes follow the header")
    m = Message()
    m.type = mtype.decode("utf-8", "replace").strip(" \x00")
    m.schema, m.created, m.seq, m.flags = schema, created, seq, flags
    m.raw_id = mid
    m.digest, m.payload_type, m.payload = digest, ptype, payload
    m.digest_ok = plen == 0 or hashlib.sha256(payload).digest() == digest
    return m


def parse_version(v):
    out = []
    for part in str(v or "").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def version_at_least(v, floor):
    a, b = parse_version(v), tuple(floor)
    n = max(len(a), len(b))
    return a + (0,) * (n - len(a)) >= b + (0,) * (n - len(b))


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


class CoalescingTransport:
    """Wraps a websocket connection's transport so that the frames written in
    one turn of the event loop leave in one socket write: the stand-in does
    not pace its sends, and one syscall per 1 KiB message would make it the
    bottleneck. The bytes on the wire are the same."""

    def __init__(self, transport, loop):
        self._t = transport
        self._loop = loop
        self._buf = []
        self._scheduled = False

    def write(self, data):
        self._buf.append(data)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self):
        self._scheduled = False
        if self._buf:
            data = b"".join(self._buf)
            self._buf.clear()
            if not self._t.is_closing():
                self._t.write(data)

    def write_eof(self):
        self._flush()
        self._t.write_eof()

    def close(self):
        self._flush()
        self._t.close()

    def abort(self):
        self._buf.clear()
        self._t.abort()

    def get_write_buffer_size(self):
        return self._t.get_write_buffer_size() + sum(map(len, self._buf))

    def __getattr__(self, name):
        return getattr(self._t, name)


# ----------------------------------------------------------------- recorder

class Recorder:
    """JSON lines, one per event, flushed every resend tick and on control calls."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.file = open(path, "a", buffering=1 << 16) if path else None

    def __call__(self, event, **fields):
        if not self.file:
            return
        fields = {"t": round(time.time(), 3), "event": event, **fields}
        line = json.dumps(fields, default=str) + "\n"
        with self.lock:
            self.file.write(line)

    def ack(self, session, seq, flags, acked_type, acked_seq, acked_id):
        """The same line as __call__("recv", type="acknowledge", ...), made cheaply:
        one is written per acknowledgement received."""
        if not self.file:
            return
        q = json.encoder.encode_basestring_ascii
        line = (f'{{"t": {round(time.time(), 3)}, "event": "recv", "session": {q(session)}, '
                f'"type": "acknowledge", "seq": {int(seq)}, "flags": {int(flags)}, '
                f'"acked_type": {q(str(acked_type))}, "acked_seq": {json.dumps(acked_seq)}, '
                f'"acked_id": {q(str(acked_id))}}}\n')
        with self.lock:
            self.file.write(line)

    def flush(self):
        if self.file:
            with self.lock:
                self.file.flush()


# ------------------------------------------------------------------- faults

FAULT_DEFAULTS = {
    "drop_after_received": None,  # abort the websocket after it received N binary frames (once)
    "drop_after_sent": None,      # ... after it sent N stream messages (once)
    "drop_mode": "abort",         # "abort" (TCP reset, no close frame) or "close" (1000 "Bye")
    "withhold_acks": False,       # never acknowledge input
    "ack_delay_ms": 0,            # acknowledge input this late
    "corrupt_digest": 0,          # send the next N output messages with a wrong digest
    "drop_input_every": 0,        # discard every Nth input_stream_data (no ack, no processing)
    "refuse_start": None,         # "TargetNotConnected" | "AccessDenied" | "InvalidDocument"
    "refuse_resume": False,       # ResumeSession answers without a TokenValue
    "refuse_kms": False,          # GenerateDataKey answers AccessDeniedException
    "refuse_reconnect": False,    # the data channel answers a session's second (resumed) websocket with HTTP 503
    "no_channel_closed": False,   # never send channel_closed
    "resend": "oldest",           # "oldest" (the agent: one message per 100 ms tick) | "all"
    "data_delay_ms": 0,           # one-way delay on the data channel, each direction
}


class Faults:
    def __init__(self, initial=None):
        self.lock = threading.Lock()
        self.values = dict(FAULT_DEFAULTS)
        if initial:
            self.update(initial)

    def update(self, changes):
        with self.lock:
            if changes.get("reset"):
                self.values = dict(FAULT_DEFAULTS)
            for k, v in changes.items():
                if k in ("reset", "drop_now", "session", "mode", "publication"):
                    continue
                if k not in FAULT_DEFAULTS:
                    raise ValueError(f"unknown fault {k!r}; known: {sorted(FAULT_DEFAULTS)}")
                self.values[k] = v

    def __getitem__(self, k):
        return self.values[k]

    def take(self, k):
        """A one-shot value: returns it and clears it."""
        with self.lock:
            v = self.values[k]
            self.values[k] = FAULT_DEFAULTS[k]
            return v

    def decrement(self, k):
        with self.lock:
            v = self.values[k] or 0
            if v > 0:
                self.values[k] = v - 1
                return True
            return False

    def snapshot(self):
        with self.lock:
            return dict(self.values)


# --------------------------------------------------------------- fake KMS

class FakeKms:
    """GenerateDataKey/Decrypt: the CiphertextBlob is a random handle mapped
    back to the plaintext and the encryption context it was made under.
    DescribeKey of the keys that exist. ``known``: the key ids (ids, ARNs
    or aliases) that exist; ``None``: every key exists."""

    def __init__(self, region, account, known=None):
        self.keys = {}
        self.lock = threading.Lock()
        self.region, self.account = region, account
        self.known = None if known is None else set(known)

    def exists(self, key_id):
        return self.known is None or key_id in self.known

    def key_uuid(self, key_id):
        # Stable per name: an alias names one key for the stand-in's life.
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"berth-standin-kms:{key_id}"))

    def key_metadata_arn(self, key_id):
        if key_id.startswith("arn:") and ":key/" in key_id:
            return key_id
        return f"arn:aws:kms:{self.region}:{self.account}:key/{self.key_uuid(key_id)}"

    def not_found(self, key_id):
        # KMS's own words: an alias is "not found", a key "does not exist".
        if key_id.startswith("alias/") or ":alias/" in key_id:
            return ApiError(400, "NotFoundException", f"Alias {self.key_arn(key_id)} is not found.")
        return ApiError(400, "NotFoundException", f"Key '{self.key_arn(key_id)}' does not exist")

    def describe_key(self, req):
        key_id = req.get("KeyId")
        if not key_id:
            raise ApiError(400, "ValidationException", "KeyId is required")
        if not self.exists(key_id):
            raise self.not_found(key_id)
        arn = self.key_metadata_arn(key_id)
        return {"KeyMetadata": {
            "AWSAccountId": self.account, "KeyId": arn.rsplit("/", 1)[1], "Arn": arn,
            "CreationDate": 1.7e9, "Enabled": True, "Description": "",
            "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": "Enabled", "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER", "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": False}}

    def key_arn(self, key_id):
        if key_id.startswith("arn:"):
            return key_id
        return f"arn:aws:kms:{self.region}:{self.account}:{'alias/' + key_id[6:] if key_id.startswith('alias/') else 'key/' + key_id}"

    def generate_data_key(self, req, refuse=False, caller="berth-test"):
        key_id = req.get("KeyId")
        if not key_id:
            raise ApiError(400, "ValidationException", "KeyId is required")
        if not self.exists(key_id):
            raise self.not_found(key_id)
        if refuse:
            raise ApiError(400, "AccessDeniedException",
                           f"User: arn:aws:iam::{self.account}:user/{caller} is not authorized to perform: "
                           f"kms:GenerateDataKey on resource: {self.key_arn(key_id)} "
                           "because no identity-based policy allows the kms:GenerateDataKey action")
        n = req.get("NumberOfBytes")
        if n is None:
            n = {"AES_256": 32, "AES_128": 16}.get(req.get("KeySpec"), None)
        if not isinstance(n, int) or not 1 <= n <= 1024:
            raise ApiError(400, "ValidationException", "NumberOfBytes must be 1..1024 (or a KeySpec)")
        if req.get("DryRun") is True:
            # As KMS answers a dry run that would have succeeded (HTTP 412).
            raise ApiError(412, "DryRunOperationException",
                           "The request would have succeeded, but the DryRun option is set.")
        plaintext = os.urandom(n)
        blob = b"fake-kms:" + os.urandom(32)
        with self.lock:
            self.keys[blob] = (plaintext, dict(req.get("EncryptionContext") or {}), key_id)
        return {"CiphertextBlob": base64.b64encode(blob).decode(),
                "Plaintext": base64.b64encode(plaintext).decode(),
                "KeyId": self.key_arn(key_id)}

    def decrypt_blob(self, blob, context):
        with self.lock:
            entry = self.keys.get(blob)
        if entry is None or entry[1] != dict(context or {}):
            raise ApiError(400, "InvalidCiphertextException", "")
        return entry

    def decrypt(self, req):
        blob = base64.b64decode(req.get("CiphertextBlob", ""))
        plaintext, _, key_id = self.decrypt_blob(blob, req.get("EncryptionContext"))
        return {"Plaintext": base64.b64encode(plaintext).decode(), "KeyId": self.key_arn(key_id),
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}


def gcm_encrypt(key, plaintext):
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, None)


def gcm_decrypt(key, data):
    return AESGCM(key).decrypt(data[:12], data[12:], None)


# ------------------------------------------------------------------ errors

class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# ----------------------------------------------------------------- service

class Service:
    def __init__(self, config, faults, record, ws_port_holder):
        self.config = config
        self.faults = faults
        self.record = record
        self.region = config.get("region", "us-east-1")
        self.account = config.get("account", "123456789012")
        self.caller = config.get("caller", "berth-test")
        self.instances = config.get("instances", {})
        self.sessions = {}
        self.tokens = {}
        self.kms = FakeKms(self.region, self.account, config.get("kms_keys"))
        self.ecs = EcsExec(config.get("ecs") or {}, self.region, self.account, self.caller)
        self.iam = IamSimulator(config.get("iam") or {}, self.account, self.caller)
        self.loop = None
        self.ws_port_holder = ws_port_holder
        self.ws_scheme = "ws"

    # -- control plane (runs on the event loop)

    def stream_url(self, sid):
        return f"{self.ws_scheme}://127.0.0.1:{self.ws_port_holder[0]}/v1/data-channel/{sid}?role=publish_subscribe"

    def new_token(self, session):
        token = base64.b64encode(os.urandom(96)).decode()
        session.tokens.add(token)
        self.tokens[token] = session.id
        return token

    async def start_session(self, req):
        target = req.get("Target")
        if not isinstance(target, str) or not target:
            raise ApiError(400, "ValidationException", "1 validation error detected: Value null at 'target' failed to satisfy constraint: Member must not be null")
        document = req.get("DocumentName") or SHELL_DOCUMENT
        params = req.get("Parameters") or {}
        if not isinstance(params, dict) or not all(
                isinstance(v, list) and all(isinstance(s, str) for s in v) for v in params.values()):
            raise ApiError(400, "SerializationException", "Parameters must map names to lists of strings")
        refuse = self.faults["refuse_start"]
        inst = self.instances.get(target)
        if refuse == "AccessDenied" or (inst and inst.get("deny")):
            raise ApiError(400, "AccessDeniedException",
                           f"User: arn:aws:iam::{self.account}:user/{self.caller} is not authorized to perform: "
                           f"ssm:StartSession on resource: arn:aws:ec2:{self.region}:{self.account}:instance/{target} "
                           "because no identity-based policy allows the ssm:StartSession action")
        if refuse == "InvalidDocument" or document not in DOCUMENTS:
            raise ApiError(400, "InvalidDocument", f"Document with name {document} does not exist.")
        if refuse == "TargetNotConnected" or inst is None or inst.get("ping", "Online") != "Online":
            raise ApiError(400, "TargetNotConnected", f"{target} is not connected.")
        sid = f"{self.caller}-{secrets.token_hex(9)[:17]}"
        session = Session(self, sid, target, inst, document, params)
        self.sessions[sid] = session
        token = self.new_token(session)
        return {"SessionId": sid, "TokenValue": token, "StreamUrl": self.stream_url(sid)}

    async def execute_command(self, req):
        """ECS ExecuteCommand: a session into a task's container (ecs_exec_standin.py)."""
        try:
            task_id, name, container, command = self.ecs.execute_command(req)
        except EcsApiError as e:
            raise ApiError(e.status, e.code, e.message) from None
        env = dict(container.get("env") or {})
        inst = {"env": env, "cwd": container["root"], "ecs_container": container,
                "kms_key_id": self.ecs.kms_key(task_id)}
        sid = f"ecs-execute-command-{secrets.token_hex(9)[:17]}"
        session = Session(self, sid, self.ecs.target(task_id, name), inst, EXEC_DOCUMENT,
                          {"command": [command]})
        self.sessions[sid] = session
        token = self.new_token(session)
        answer = self.ecs.answer(task_id, name, {"SessionId": sid, "TokenValue": token,
                                                 "StreamUrl": self.stream_url(sid)})
        answer["SessionId"] = sid  # for the recorder; stripped before it is sent
        return answer

    async def resume_session(self, req):
        sid = req.get("SessionId")
        session = self.sessions.get(sid)
        if session is None:
            raise ApiError(400, "DoesNotExistException", f"Session {sid} does not exist.")
        if session.ended or self.faults["refuse_resume"]:
            return {"SessionId": sid}
        return {"SessionId": sid, "TokenValue": self.new_token(session), "StreamUrl": self.stream_url(sid)}

    async def terminate_session(self, req):
        sid = req.get("SessionId")
        session = self.sessions.get(sid)
        if session is not None and not session.ended:
            await session.finish("", reason="TerminateSession")
        return {"SessionId": sid}

    async def describe_instance_information(self, req):
        wanted_ids = None
        pings = None
        platforms = None
        for f in req.get("InstanceInformationFilterList") or []:
            if f.get("key") == "InstanceIds":
                wanted_ids = set(f.get("valueSet") or [])
            elif f.get("key") == "PingStatus":
                pings = set(f.get("valueSet") or [])
            elif f.get("key") == "PlatformTypes":
                platforms = set(f.get("valueSet") or [])
        for f in req.get("Filters") or []:
            key, values = f.get("Key"), set(f.get("Values") or [])
            if key == "InstanceIds":
                wanted_ids = values
            elif key == "PingStatus":
                pings = values
            elif key == "PlatformTypes":
                platforms = values
        out = []
        for iid, inst in sorted(self.instances.items()):
            info = instance_information(iid, inst)
            if wanted_ids is not None and iid not in wanted_ids:
                continue
            if pings is not None and info["PingStatus"] not in pings:
                continue
            if platforms is not None and info["PlatformType"] not in platforms:
                continue
            out.append(info)
        return {"InstanceInformationList": out}

    async def get_document(self, req):
        """GetDocument of the Session Manager preferences document only, as
        the console writes it when the config has ``preferences`` (its
        ``inputs``); without them the document does not exist, as in an
        account whose preferences were never saved."""
        name = req.get("Name")
        prefs = self.config.get("preferences")
        if name != SHELL_DOCUMENT or prefs is None:
            raise ApiError(400, "InvalidDocument", "The specified document does not exist.")
        content = {"schemaVersion": "1.0", "description": "Document to hold regional settings for Session Manager",
                   "sessionType": "Standard_Stream", "inputs": prefs}
        return {"Name": name, "DocumentVersion": "1", "Status": "Active", "DocumentType": "Session",
                "DocumentFormat": "JSON", "Content": json.dumps(content)}

    async def drop_now(self, sid=None, mode="abort"):
        dropped = []
        for s in list(self.sessions.values()):
            if (sid is None or s.id == sid) and s.ws is not None:
                s.drop_connection(mode, "drop_now")
                dropped.append(s.id)
        return {"dropped": dropped}

    async def publication(self, kind, sid=None):
        """Sends start_publication or pause_publication (as the service does
        when the other side comes back or goes away) to the client."""
        mtype = {"start": START_PUBLICATION, "pause": PAUSE_PUBLICATION}[kind]
        sent = []
        for s in list(self.sessions.values()):
            if (sid is None or s.id == sid) and s.ws is not None:
                frame, _ = encode_message(mtype, 0, 0, 0, b"")
                await s.raw_send(frame)
                self.record("send", session=s.id, type=mtype)
                sent.append(s.id)
        return {"publication": sent}

    def sessions_summary(self):
        return {sid: s.summary() for sid, s in self.sessions.items()}

    # -- data channel

    def ws_process_request(self, connection, request):
        """Refuses a resumed session's websocket (HTTP 503) while the
        refuse_reconnect fault is on: the client's reconnection fails
        before the upgrade, as when the service is unreachable."""
        if not self.faults["refuse_reconnect"]:
            return None
        parts = urllib.parse.urlparse(request.path).path.strip("/").split("/")
        session = self.sessions.get(parts[2]) if len(parts) == 3 else None
        if session is None or session.connections == 0:
            return None
        self.record("ws_refused", session=parts[2], reason="refuse_reconnect")
        return connection.respond(503, "reconnection refused (fault refuse_reconnect)\n")

    async def ws_handler(self, ws):
        ws.transport = CoalescingTransport(ws.transport, asyncio.get_running_loop())
        path = ws.request.path
        parsed = urllib.parse.urlparse(path)
        parts = parsed.path.strip("/").split("/")
        peer = "%s:%s" % ws.remote_address[:2]
        if len(parts) != 3 or parts[:2] != ["v1", "data-channel"]:
            self.record("ws_refused", path=path, reason="unknown path")
            await ws.close(1008, "unknown path")
            return
        sid = parts[2]
        try:
            first = await asyncio.wait_for(ws.recv(), 30)
        except Exception as e:  # noqa: BLE001 - anything means no token
            self.record("ws_refused", session=sid, reason=f"no token message: {e!r}")
            return
        if not isinstance(first, str):
            self.record("ws_refused", session=sid, reason="first frame is binary, not the text token message")
            await ws.close(1008, "expected the token message")
            return
        try:
            opening = json.loads(first)
        except ValueError:
            self.record("ws_refused", session=sid, reason="token message is not JSON")
            await ws.close(1008, "bad token message")
            return
        token = opening.get("TokenValue")
        session = self.sessions.get(sid)
        if session is None or self.tokens.get(token) != sid:
            self.record("ws_refused", session=sid, reason="unknown session or token")
            await ws.close(1008, "invalid token")
            return
        self.record("ws_open", session=sid, peer=peer, query=parsed.query,
                    message_schema_version=opening.get("MessageSchemaVersion"),
                    request_id=opening.get("RequestId"), client_id=opening.get("ClientId"),
                    client_version=opening.get("ClientVersion"), resumed=session.connections > 0)
        if session.ended:
            await ws.close(1000, "session ended")
            return
        await session.attach(ws, opening)


def instance_information(iid, inst):
    info = {
        "InstanceId": iid,
        "PingStatus": inst.get("ping", "Online"),
        "LastPingDateTime": time.time() - (0 if inst.get("ping", "Online") == "Online" else 3600),
        "AgentVersion": inst.get("agent_version", DEFAULT_AGENT_VERSION),
        "IsLatestVersion": inst.get("is_latest_version", True),
        "PlatformType": inst.get("platform_type", "Linux"),
        "PlatformName": inst.get("platform_name", "Amazon Linux"),
        "PlatformVersion": inst.get("platform_version", "2023"),
        "ResourceType": inst.get("resource_type", "EC2Instance" if iid.startswith("i-") else "ManagedInstance"),
        "IPAddress": inst.get("address", "127.0.0.1"),
        "ComputerName": inst.get("computer_name", f"ip-{inst.get('address', '127.0.0.1').replace('.', '-')}.ec2.internal"),
        "AssociationStatus": "Success",
        "SourceId": iid,
        "SourceType": "AWS::EC2::Instance" if iid.startswith("i-") else "AWS::SSM::ManagedInstance",
    }
    return info


# ----------------------------------------------------------------- session

class OutMessage:
    __slots__ = ("seq", "frame", "first_sent", "last_sent", "resends")


class Session:
    def __init__(self, service, sid, target, inst, document, params):
        self.service = service
        self.record = service.record
        self.faults = service.faults
        self.id = sid
        self.target = target
        self.inst = inst
        self.document = document
        self.params = params
        self.session_type = DOCUMENTS[document]
        self.tokens = set()
        self.ws = None
        self.connections = 0
        self.client_version = None
        self.ended = False
        self.started = False
        # outgoing
        self.out_seq = 0
        self.unacked = collections.OrderedDict()
        self.window = asyncio.Event()
        self.window.set()
        self.connected = asyncio.Event()
        self.rtt, self.rttvar, self.rto = 0.1, 0.0, 0.2
        # incoming
        self.expected = 0
        self.inbuf = {}
        self.input_count = 0
        # handshake / encryption
        self.handshake_future = None
        self.challenge_future = None
        self.handshake_done = False
        self.needs_handshake = False
        self.encrypt_key = None  # agent -> client
        self.decrypt_key = None  # client -> agent
        self.handler = None
        self.starting_handler = None
        self.tasks = set()
        self.sent_on_connection = 0
        self.recv_on_connection = 0
        self.bytes_in = self.bytes_out = 0
        # data_delay_ms: frames each way wait in a delay line, in order
        self.delayed_out = collections.deque()
        self.delayed_out_ready = asyncio.Event()
        self.delayed_in = asyncio.Queue(maxsize=INCOMING_CAPACITY)
        self.spawn(self.resend_loop())
        self.spawn(self.delay_out_loop())
        self.spawn(self.delay_in_loop())

    def spawn(self, coro):
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task):
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.record("error", session=self.id, error=repr(exc))

    def summary(self):
        return {"target": self.target, "document": self.document, "session_type": self.session_type,
                "connected": self.ws is not None, "ended": self.ended,
                "out_seq": self.out_seq, "unacked": len(self.unacked), "expected": self.expected,
                "buffered_in": len(self.inbuf), "rto": self.rto, "client_version": self.client_version,
                "connections": self.connections, "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "encrypted": self.encrypt_key is not None}

    # -- connection

    async def attach(self, ws, opening):
        old = self.ws
        if old is not None:
            self.record("ws_replaced", session=self.id)
            old.transport.abort()
        self.ws = ws
        self.connections += 1
        self.sent_on_connection = 0
        self.recv_on_connection = 0
        if opening.get("ClientVersion"):
            self.client_version = opening.get("ClientVersion")
        self.connected.set()
        if not self.started:
            self.started = True
            self.spawn(self.begin())
        try:
            async for raw in ws:
                if isinstance(raw, str):
                    self.record("recv_text", session=self.id, text=raw[:200])
                    continue
                self.recv_on_connection += 1
                n = self.faults["drop_after_received"]
                if n is not None and self.recv_on_connection >= n and ws is self.ws:
                    self.faults.take("drop_after_received")
                    self.drop_connection(self.faults["drop_mode"], f"drop_after_received={n}")
                    break
                delay = self.faults["data_delay_ms"]
                if delay or not self.delayed_in.empty():
                    await self.delayed_in.put((time.monotonic() + (delay or 0) / 1000, raw))
                else:
                    await self.on_frame(raw)
        except websockets.ConnectionClosed:
            pass
        finally:
            current = self.ws is ws
            if current:
                self.ws = None
                self.connected.clear()
            self.record("ws_closed", session=self.id, code=ws.close_code, reason=ws.close_reason,
                        was_current=current)

    def drop_connection(self, mode, why):
        ws = self.ws
        if ws is None:
            return
        self.record("fault", session=self.id, fault="drop", mode=mode, why=why)
        self.ws = None
        self.connected.clear()
        if mode == "close":
            self.spawn(ws.close(1000, "Bye"))
        else:
            ws.transport.abort()

    async def raw_send(self, frame):
        ws = self.ws
        if ws is None:
            return False
        delay = self.faults["data_delay_ms"]
        if delay or self.delayed_out:
            self.delayed_out.append((time.monotonic() + (delay or 0) / 1000, ws, frame))
            self.delayed_out_ready.set()
            return True
        try:
            await ws.send(frame)
            return True
        except websockets.ConnectionClosed:
            return False

    async def delay_out_loop(self):
        """Sends what raw_send delayed, each frame when its time comes, in order."""
        while True:
            if not self.delayed_out:
                self.delayed_out_ready.clear()
                await self.delayed_out_ready.wait()
                continue
            due, ws, frame = self.delayed_out[0]
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.delayed_out.popleft()
            try:
                await ws.send(frame)
            except websockets.ConnectionClosed:
                pass

    async def delay_in_loop(self):
        """Handles what the reader delayed, each frame when its time comes, in order."""
        while True:
            due, raw = await self.delayed_in.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.on_frame(raw)

    # -- outgoing stream

    async def ready_to_send(self):
        while True:
            if not self.connected.is_set():
                await self.connected.wait()
            if not self.window.is_set():
                await self.window.wait()
            if self.connected.is_set() and self.window.is_set():
                return

    async def send_stream(self, payload_type, payload):
        if payload_type in (PT_OUTPUT, PT_STDERR, PT_EXIT_CODE) and self.encrypt_key is not None:
            payload = gcm_encrypt(self.encrypt_key, payload)
        seq = self.out_seq
        self.out_seq += 1
        frame, _ = encode_message(OUTPUT, seq, 1 if seq == 0 else 0, payload_type, payload)
        m = OutMessage()
        m.seq, m.frame, m.resends = seq, frame, 0
        m.first_sent = m.last_sent = time.monotonic()
        self.unacked[seq] = m
        if len(self.unacked) >= OUTGOING_CAPACITY:
            self.window.clear()
        self.bytes_out += len(payload)
        if payload_type != PT_OUTPUT:
            self.record("send", session=self.id, type=OUTPUT, seq=seq,
                        payload_type=PAYLOAD_TYPE_NAMES.get(payload_type, payload_type))
        wire = frame
        if self.faults["corrupt_digest"] and self.faults.decrement("corrupt_digest"):
            wire = frame[:80] + bytes(b ^ 0xFF for b in frame[80:112]) + frame[112:]
            self.record("fault", session=self.id, fault="corrupt_digest", seq=seq)
        await self.raw_send(wire)
        self.sent_on_connection += 1
        n = self.faults["drop_after_sent"]
        if n is not None and self.sent_on_connection >= n and self.ws is not None:
            self.faults.take("drop_after_sent")
            self.drop_connection(self.faults["drop_mode"], f"drop_after_sent={n}")
        return seq

    async def resend_loop(self):
        while True:
            await asyncio.sleep(RESEND_TICK)
            self.record.flush()
            if self.ws is None or not self.unacked:
                continue
            now = time.monotonic()
            overdue = []
            for m in self.unacked.values():
                if now - m.last_sent > self.rto:
                    overdue.append(m)
                if self.faults["resend"] != "all":
                    break
            for m in overdue:
                m.last_sent = now
                m.resends += 1
                self.record("resend", session=self.id, seq=m.seq, resends=m.resends, rto=round(self.rto, 3))
                await self.raw_send(m.frame)

    def on_ack(self, msg):
        try:
            body = json.loads(msg.payload)
            seq = body["AcknowledgedMessageSequenceNumber"]
        except (ValueError, KeyError, TypeError) as e:
            self.record("bad_ack", session=self.id, error=repr(e))
            return
        self.record.ack(self.id, msg.seq, msg.flags, body.get("AcknowledgedMessageType"), seq,
                        body.get("AcknowledgedMessageId"))
        m = self.unacked.pop(seq, None)
        if m is None:
            return
        sample = time.monotonic() - m.last_sent
        self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.rtt - sample)
        self.rtt = 0.875 * self.rtt + 0.125 * sample
        self.rto = min(1.0, self.rtt + max(0.010, 4 * self.rttvar))
        if len(self.unacked) < OUTGOING_CAPACITY:
            self.window.set()

    # -- incoming

    async def on_frame(self, raw):
        try:
            msg = decode_message(raw)
        except (BadMessage, struct.error, ValueError) as e:
            self.record("bad_frame", session=self.id, error=str(e), length=len(raw))
            return
        if msg.type == ACK:
            if not msg.digest_ok:
                self.record("bad_digest", session=self.id, type=msg.type, seq=msg.seq)
                return
            self.on_ack(msg)
            return
        self.record("recv", session=self.id, type=msg.type, seq=msg.seq, flags=msg.flags,
                    payload_type=PAYLOAD_TYPE_NAMES.get(msg.payload_type, msg.payload_type),
                    length=len(msg.payload), id=msg.id)
        if msg.type != INPUT:
            return
        if not msg.digest_ok:
            self.record("bad_digest", session=self.id, type=msg.type, seq=msg.seq)
            return
        self.input_count += 1
        every = self.faults["drop_input_every"]
        if every and self.input_count % every == 0:
            self.record("fault", session=self.id, fault="drop_input", seq=msg.seq)
            return
        if msg.seq == self.expected:
            if not await self.process(msg):
                self.record("not_ready", session=self.id, seq=msg.seq)
                return
            await self.ack(msg)
            self.expected += 1
            while self.expected in self.inbuf:
                nxt = self.inbuf.pop(self.expected)
                if not await self.process(nxt):
                    self.inbuf[self.expected] = nxt
                    break
                self.expected += 1
        elif msg.seq > self.expected:
            if len(self.inbuf) < INCOMING_CAPACITY:
                self.inbuf[msg.seq] = msg
                await self.ack(msg)
        else:
            # the agent re-acknowledges duplicates (the plugin does not)
            self.record("duplicate", session=self.id, seq=msg.seq, expected=self.expected)
            await self.ack(msg)

    async def ack(self, msg):
        if self.faults["withhold_acks"]:
            return
        body = json.dumps({"AcknowledgedMessageType": msg.type, "AcknowledgedMessageId": msg.id,
                           "AcknowledgedMessageSequenceNumber": msg.seq,
                           "IsSequentialMessage": True}).encode()
        frame, _ = encode_message(ACK, 0, ACK_FLAGS, 0, body)
        delay = self.faults["ack_delay_ms"]
        if delay:
            async def later():
                await asyncio.sleep(delay / 1000)
                await self.raw_send(frame)
            self.spawn(later())
        else:
            await self.raw_send(frame)

    async def process(self, msg):
        """Handles one in-order input message; False means 'not ready' (not acknowledged)."""
        pt, payload = msg.payload_type, msg.payload
        self.bytes_in += len(payload)
        if pt == PT_HANDSHAKE_RESPONSE:
            if self.handshake_future and not self.handshake_future.done():
                self.handshake_future.set_result(payload)
            return True
        if pt == PT_ENC_CHALLENGE_RESPONSE:
            if self.challenge_future and not self.challenge_future.done():
                self.challenge_future.set_result(payload)
            return True
        if self.needs_handshake and not self.handshake_done:
            self.record("ignored_before_handshake", session=self.id, seq=msg.seq,
                        payload_type=PAYLOAD_TYPE_NAMES.get(pt, pt))
            return True
        if self.ended:
            return True
        if pt == PT_FLAG:
            flag = struct.unpack(">I", payload[:4])[0] if len(payload) >= 4 else None
            self.record("flag", session=self.id, flag=flag)
            if flag == FLAG_TERMINATE_SESSION:
                self.spawn(self.finish("", reason="Flag TerminateSession"))
            elif flag == FLAG_DISCONNECT_TO_PORT and self.handler is not None:
                await self.handler.disconnect_port()
            return True
        if self.handler is None:
            return False
        if pt == PT_SIZE:
            try:
                size = json.loads(payload)
                cols, rows = int(size["cols"]), int(size["rows"])
            except (ValueError, KeyError, TypeError):
                self.record("bad_size", session=self.id, payload=payload[:100].decode("utf-8", "replace"))
                return True
            self.record("size", session=self.id, cols=cols, rows=rows)
            self.handler.resize(cols, rows)
            return True
        if pt == PT_OUTPUT:
            if self.decrypt_key is not None:
                try:
                    payload = gcm_decrypt(self.decrypt_key, payload)
                except Exception as e:  # noqa: BLE001
                    self.record("decrypt_failed", session=self.id, seq=msg.seq, error=repr(e))
                    return True
            return await self.handler.input(payload)
        self.record("unhandled_payload", session=self.id, payload_type=pt)
        return True

    # -- session life

    def properties(self):
        p = {k: (v[0] if v else "") for k, v in self.params.items()}
        if self.document == "AWS-StartSSHSession":
            return {"portNumber": p.get("portNumber", "22")}
        if self.document == "AWS-StartPortForwardingSession":
            return {"portNumber": p.get("portNumber", "80"), "type": "LocalPortForwarding",
                    "localPortNumber": p.get("localPortNumber", "0")}
        if self.document == "AWS-StartPortForwardingSessionToRemoteHost":
            return {"portNumber": p.get("portNumber", "80"), "type": "LocalPortForwarding",
                    "localPortNumber": p.get("localPortNumber", "0"), "host": p.get("host", "")}
        return None

    async def begin(self):
        kms_key = self.inst.get("kms_key_id") if self.session_type != "Port" else None
        self.needs_handshake = self.session_type in ("Port", "NonInteractiveCommands") or bool(kms_key)
        if self.needs_handshake:
            ok = await self.handshake(kms_key)
            if not ok:
                return
        # input that arrives before the handler is up is "not ready" (not acknowledged)
        handler = self.starting_handler = make_handler(self)
        try:
            await handler.start()
        except Exception as e:  # noqa: BLE001
            self.record("handler_failed", session=self.id, error=repr(e))
            await self.finish(f"failed to start the session: {e}", reason="handler failed")
            return
        self.handler = handler

    async def handshake(self, kms_key):
        loop = asyncio.get_running_loop()
        started = time.monotonic_ns()
        actions = [{"ActionType": "SessionType",
                    "ActionParameters": {"SessionType": self.session_type, "Properties": self.properties()}}]
        challenge = None
        if kms_key:
            challenge = base64.b64encode(os.urandom(16)).decode()
            actions.append({"ActionType": "KMSEncryption",
                            "ActionParameters": {"KMSKeyId": kms_key, "Challenge": challenge}})
        request = {"AgentVersion": self.inst.get("agent_version", DEFAULT_AGENT_VERSION),
                   "RequestedClientActions": actions}
        self.handshake_future = loop.create_future()
        await self.ready_to_send()
        await self.send_stream(PT_HANDSHAKE_REQUEST, json.dumps(request).encode())
        try:
            raw = await asyncio.wait_for(self.handshake_future, HANDSHAKE_TIMEOUT)
        except asyncio.TimeoutError:
            self.record("handshake_timeout", session=self.id)
            await self.finish(HANDSHAKE_TIMEOUT_MESSAGE, reason="handshake timeout")
            return False
        try:
            response = json.loads(raw)
        except ValueError:
            await self.finish("Handshake failed: the HandshakeResponse is not JSON.", reason="bad handshake")
            return False
        self.client_version = response.get("ClientVersion") or self.client_version
        processed = response.get("ProcessedClientActions") or []
        self.record("handshake_response", session=self.id, client_version=response.get("ClientVersion"),
                    actions=[(a.get("ActionType"), a.get("ActionStatus")) for a in processed],
                    errors=response.get("Errors"))
        by_type = {a.get("ActionType"): a for a in processed}
        for action in actions:
            got = by_type.get(action["ActionType"])
            if got is None or got.get("ActionStatus") != 1:
                err = (got or {}).get("Error") or "not processed"
                await self.finish(f"Handshake failed: {action['ActionType']} {err}", reason="handshake refused")
                return False
        encrypted = False
        if kms_key:
            result = by_type["KMSEncryption"].get("ActionResult")
            if isinstance(result, str):
                try:
                    result = json.loads(result)
                except ValueError:
                    result = {}
            try:
                blob = base64.b64decode((result or {}).get("KMSCipherTextKey", ""))
                context = {"aws:ssm:SessionId": self.id, "aws:ssm:TargetId": self.target}
                if (result or {}).get("ChallengeAcknowledgement"):
                    context["aws:ssm:RandomChallenge"] = challenge
                key = self.service.kms.decrypt_blob(blob, context)[0]
                if len(key) != 64:
                    raise ApiError(400, "InvalidKeyLength", f"{len(key)} bytes")
            except (ApiError, ValueError, TypeError) as e:
                self.record("kms_failed", session=self.id, error=repr(e))
                await self.finish("Encryption failed: the data key could not be decrypted.", reason="kms")
                return False
            self.encrypt_key, self.decrypt_key = key[:32], key[32:]
            plain = os.urandom(64)
            self.challenge_future = loop.create_future()
            await self.send_stream(PT_ENC_CHALLENGE_REQUEST, json.dumps(
                {"Challenge": base64.b64encode(gcm_encrypt(self.encrypt_key, plain)).decode()}).encode())
            try:
                raw = await asyncio.wait_for(self.challenge_future, HANDSHAKE_TIMEOUT)
                answer = gcm_decrypt(self.decrypt_key, base64.b64decode(json.loads(raw)["Challenge"]))
            except asyncio.TimeoutError:
                await self.finish(HANDSHAKE_TIMEOUT_MESSAGE, reason="challenge timeout")
                return False
            except Exception as e:  # noqa: BLE001
                answer = None
                self.record("challenge_failed", session=self.id, error=repr(e))
            if answer != plain:
                await self.finish("Encryption challenge failed.", reason="challenge mismatch")
                return False
            self.record("challenge_passed", session=self.id)
            encrypted = True
        complete = {"HandshakeTimeToComplete": time.monotonic_ns() - started,
                    "CustomerMessage": "This session is encrypted using AWS KMS." if encrypted else ""}
        await self.send_stream(PT_HANDSHAKE_COMPLETE, json.dumps(complete).encode())
        self.handshake_done = True
        return True

    async def finish(self, output, reason):
        if self.ended:
            return
        self.ended = True
        self.record("session_end", session=self.id, reason=reason, output=output)
        self.record.flush()
        handler = self.handler or self.starting_handler
        if handler is not None:
            await handler.stop()
        deadline = time.monotonic() + 2
        while self.unacked and self.ws is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self.faults["no_channel_closed"]:
            self.record("fault", session=self.id, fault="no_channel_closed")
        else:
            mid = uuid.UUID(bytes=new_message_id())
            body = json.dumps({"MessageId": str(mid), "CreatedDate": now_iso(), "DestinationId": self.id,
                               "SessionId": self.id, "MessageType": CHANNEL_CLOSED, "SchemaVersion": 1,
                               "Output": output}).encode()
            frame, _ = encode_message(CHANNEL_CLOSED, 0, 0, 0, body, message_id=mid)
            sent = await self.raw_send(frame)
            self.record("send", session=self.id, type=CHANNEL_CLOSED, delivered=sent, output=output)
        # what the delay line still holds (channel_closed included) goes first
        deadline = time.monotonic() + 2
        while self.delayed_out and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        for t in list(self.tasks):
            if t is not asyncio.current_task():
                t.cancel()
        ws = self.ws
        if ws is not None:
            async def close_later():
                await asyncio.sleep(1)
                await ws.close(1000, "Bye")
            asyncio.get_running_loop().create_task(close_later())
        for token in self.tokens:
            self.service.tokens.pop(token, None)


# ---------------------------------------------------------------- handlers

def make_handler(session):
    st = session.session_type
    if st == "Port":
        props = session.properties()
        host, port = resolve_port_target(session, props)
        agent = session.inst.get("agent_version", DEFAULT_AGENT_VERSION)
        if (props.get("type") == "LocalPortForwarding"
                and version_at_least(session.client_version, SMUX_CLIENT_MIN)
                and version_at_least(agent, SMUX_AGENT_MIN)):
            return MuxPortHandler(session, host, port)
        return BasicPortHandler(session, host, port, ssh=props.get("type") is None)
    if st == "NonInteractiveCommands":
        return CommandHandler(session)
    return ShellHandler(session)


def resolve_port_target(session, props):
    inst = session.inst
    port = str(props.get("portNumber") or "22")
    host = props.get("host") or ""
    if host:
        # ToRemoteHost: names (or addresses) listed in the instance's
        # remote_hosts map to ADDR or ADDR:PORT; anything else is dialled as
        # given, and dial() refuses what is not on 127.0.0.0/8.
        remote = inst.get("remote_hosts") or {}
        if host in remote:
            mapped = remote[host]
            target = mapped if ":" in mapped else f"{mapped}:{port}"
        else:
            target = f"{host}:{port}"
    else:
        target = (inst.get("ports") or {}).get(port) or f"{inst.get('address', '127.0.0.1')}:{port}"
    h, _, p = target.rpartition(":")
    return h, int(p)


def check_loopback(host):
    try:
        return ipaddress.ip_address(host) in LOOPBACK
    except ValueError:
        return False


def utf8_cut(data):
    """Splits off an incomplete UTF-8 sequence at the end (the agent never
    splits a character across messages)."""
    n = len(data)
    for i in range(1, min(4, n) + 1):
        b = data[n - i]
        if b & 0xC0 == 0x80:
            continue
        if b >= 0xC0:
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            if need > i:
                return data[:n - i], data[n - i:]
        break
    return data, b""


class PtyReaderProtocol(asyncio.StreamReaderProtocol):
    """A pty master reads EIO once the shell has exited: that is the end of
    the output, not an error (a StreamReader given the error would drop
    what it still buffers)."""

    def connection_lost(self, exc):
        if isinstance(exc, OSError) and exc.errno == errno.EIO:
            exc = None
        super().connection_lost(exc)


class ShellHandler:
    """Standard_Stream and InteractiveCommands: a real pty."""

    def __init__(self, session):
        self.session = session
        self.proc = None
        self.master = None
        self.writer = None
        self.cols, self.rows = 80, 24

    def argv(self):
        s = self.session
        shell = s.inst.get("shell", "/bin/sh")
        if s.session_type == "InteractiveCommands":
            cmd = (s.params.get("command") or [""])[0]
            if not cmd:
                raise ValueError("InteractiveCommands needs a command parameter")
            return [shell, "-c", cmd]
        return [shell]

    async def start(self):
        s = self.session
        loop = asyncio.get_running_loop()
        if s.document == EXEC_DOCUMENT:
            # ECS Exec: the agent in the container runs the command itself,
            # split shell-style, without a shell.
            argv, error = container_argv(s.inst["ecs_container"], (s.params.get("command") or [""])[0])
            if argv is None:
                s.record("process_not_started", session=s.id, error=error.strip())
                await s.send_stream(PT_OUTPUT, error.encode())
                s.spawn(s.finish("", reason="command not found"))
                return
        else:
            argv = self.argv()
        master, slave = pty.openpty()
        self.master = master
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["TERM"] = "xterm-256color"
        env.setdefault("LANG", "C.UTF-8")
        env.update(s.inst.get("env") or {})

        def child_setup():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = await asyncio.create_subprocess_exec(
            *argv, stdin=slave, stdout=slave, stderr=slave, env=env,
            cwd=s.inst.get("cwd") or os.environ.get("HOME", "/"), preexec_fn=child_setup)
        os.close(slave)
        s.record("process_started", session=s.id, argv=argv, pid=self.proc.pid)
        reader = asyncio.StreamReader(limit=1 << 20, loop=loop)
        await loop.connect_read_pipe(lambda: PtyReaderProtocol(reader, loop=loop),
                                     os.fdopen(os.dup(master), "rb", 0))
        wt, wp = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                               os.fdopen(os.dup(master), "wb", 0))
        self.writer = asyncio.StreamWriter(wt, wp, None, loop)
        s.spawn(self.pump(reader))

    async def pump(self, reader):
        s = self.session
        pending = b""
        while True:
            await s.ready_to_send()
            try:
                data = await reader.read(READ_SIZE - len(pending))
            except OSError:
                data = b""
            if not data:
                break
            data, pending = utf8_cut(pending + data)
            if data:
                await s.send_stream(PT_OUTPUT, data)
        if pending:
            await s.send_stream(PT_OUTPUT, pending)
        code = await self.proc.wait()
        s.record("process_exited", session=s.id, code=code)
        await s.finish("", reason=f"shell exited {code}")

    async def input(self, data):
        if self.writer is None:
            return False
        self.writer.write(data)
        await self.writer.drain()
        return True

    def resize(self, cols, rows):
        self.cols, self.rows = cols, rows
        if self.master is not None:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    async def disconnect_port(self):
        pass

    async def stop(self):
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGHUP)
            except ProcessLookupError:
                pass
        if self.writer is not None:
            self.writer.close()
        if self.master is not None:
            try:
                os.close(self.master)
            except OSError:
                pass
            self.master = None


class CommandHandler:
    """NonInteractiveCommands: the command without a pty; with
    separateOutputStream stdout as Output, stderr as StdErr, then ExitCode."""

    def __init__(self, session):
        self.session = session
        self.proc = None

    async def start(self):
        s = self.session
        cmd = (s.params.get("command") or [""])[0]
        separate = (s.params.get("separateOutputStream") or [str(s.inst.get("separate_output_stream", "false"))])[0]
        self.separate = separate.lower() == "true"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(s.inst.get("env") or {})
        self.proc = await asyncio.create_subprocess_exec(
            s.inst.get("shell", "/bin/sh"), "-c", cmd, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if self.separate else asyncio.subprocess.STDOUT,
            env=env, cwd=s.inst.get("cwd") or os.environ.get("HOME", "/"), start_new_session=True)
        s.record("process_started", session=s.id, argv=["sh", "-c", cmd], separate=self.separate)
        s.spawn(self.run())

    async def drain(self, stream, ptype):
        s = self.session
        while True:
            await s.ready_to_send()
            data = await stream.read(READ_SIZE)
            if not data:
                return
            await s.send_stream(ptype, data)

    async def run(self):
        s = self.session
        jobs = [self.drain(self.proc.stdout, PT_OUTPUT)]
        if self.separate:
            jobs.append(self.drain(self.proc.stderr, PT_STDERR))
        await asyncio.gather(*jobs)
        code = await self.proc.wait()
        s.record("process_exited", session=s.id, code=code)
        if self.separate:
            await s.ready_to_send()
            await s.send_stream(PT_EXIT_CODE, f"EXIT_CODE: {code}".encode())
        await s.finish("", reason=f"command exited {code}")

    async def input(self, data):
        if self.proc is None:
            return False
        try:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        return True

    def resize(self, cols, rows):
        pass

    async def disconnect_port(self):
        pass

    async def stop(self):
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


async def dial(session, host, port):
    if not check_loopback(host):
        raise OSError(f"{host} is not a loopback address (the stand-in dials 127.0.0.0/8 only)")
    if host in (session.inst.get("denied_remote_ips") or []):
        raise OSError(f"{host} is denied")
    return await asyncio.open_connection(host, port, limit=1 << 16)


class BasicPortHandler:
    """One TCP connection at a time (AWS-StartSSHSession, or a client too
    old for smux). An SSH session ends when the port closes the connection;
    a port forward re-dials on the next data after DisconnectToPort."""

    def __init__(self, session, host, port, ssh):
        self.session = session
        self.host, self.port, self.ssh = host, port, ssh
        self.reader = self.writer = None
        self.read_task = None
        self.connections = 0

    async def start(self):
        await self.connect()

    async def connect(self):
        s = self.session
        try:
            self.reader, self.writer = await dial(s, self.host, self.port)
        except OSError as e:
            s.record("dial_failed", session=s.id, host=self.host, port=self.port, error=str(e))
            await s.ready_to_send()
            await s.send_stream(PT_FLAG, struct.pack(">I", FLAG_CONNECT_TO_PORT_ERROR))
            if self.ssh:
                await s.finish("", reason="dial failed")
            return False
        self.connections += 1
        s.record("dialed", session=s.id, host=self.host, port=self.port, mode="basic")
        self.read_task = s.spawn(self.pump(self.reader, self.writer))
        return True

    async def pump(self, reader, writer):
        s = self.session
        while True:
            await s.ready_to_send()
            try:
                data = await reader.read(READ_SIZE)
            except OSError:
                data = b""
            if not data:
                break
            await s.send_stream(PT_OUTPUT, data)
        s.record("port_closed", session=s.id, by="target")
        writer.close()
        if self.writer is writer:
            self.reader = self.writer = None
            if self.ssh:
                await s.finish("", reason="port closed")

    async def input(self, data):
        if self.writer is None:
            if self.ssh and self.connections:
                return True
            if not await self.connect():
                return True
        self.writer.write(data)
        try:
            await self.writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            pass
        return True

    def resize(self, cols, rows):
        pass

    async def disconnect_port(self):
        if self.writer is not None:
            self.session.record("port_closed", session=self.session.id, by="DisconnectToPort")
            w = self.writer
            self.reader = self.writer = None
            if self.read_task:
                self.read_task.cancel()
            w.close()

    async def stop(self):
        if self.writer is not None:
            self.writer.close()


class MuxStream:
    __slots__ = ("sid", "queue", "writer", "fin_received", "fin_sent", "reader_task")


class MuxPortHandler:
    """smux v1 over the Output byte stream: one TCP connection per client stream."""

    def __init__(self, session, host, port):
        self.session = session
        self.host, self.port = host, port
        self.rx = bytearray()
        self.out = bytearray()
        self.out_ready = asyncio.Event()
        self.out_room = asyncio.Event()
        self.out_room.set()
        self.streams = {}
        self.queued = 0
        self.bucket_room = asyncio.Event()
        self.bucket_room.set()

    async def start(self):
        s = self.session
        s.record("smux", session=s.id, client_version=s.client_version)
        s.spawn(self.pump_out())
        if not version_at_least(s.client_version, (1, 2, 331, 1)):
            s.spawn(self.keepalive())

    async def keepalive(self):
        while True:
            await asyncio.sleep(10)
            await self.emit(SMUX_NOP, 0, b"")

    async def emit(self, cmd, sid, body):
        while len(self.out) > 64 * 1024:
            self.out_room.clear()
            await self.out_room.wait()
        self.out += struct.pack("<BBHI", 1, cmd, len(body), sid) + body
        self.out_ready.set()

    async def pump_out(self):
        s = self.session
        while True:
            if not self.out:
                self.out_ready.clear()
                self.out_room.set()
                await self.out_ready.wait()
            await s.ready_to_send()
            chunk = bytes(self.out[:READ_SIZE])
            del self.out[:READ_SIZE]
            if len(self.out) <= 64 * 1024:
                self.out_room.set()
            await s.send_stream(PT_OUTPUT, chunk)

    async def input(self, data):
        s = self.session
        self.rx += data
        while len(self.rx) >= 8:
            ver, cmd, length, sid = struct.unpack_from("<BBHI", self.rx)
            if ver != 1:
                s.record("smux_bad_version", session=s.id, version=ver, cmd=cmd)
            if cmd == SMUX_PSH:
                if len(self.rx) < 8 + length:
                    break
                body = bytes(self.rx[8:8 + length])
                del self.rx[:8 + length]
                st = self.streams.get(sid)
                if st is None or st.fin_received or st.fin_sent:
                    continue
                self.queued += len(body)
                st.queue.put_nowait(body)
                if self.queued >= SMUX_RECEIVE_BUCKET:
                    self.bucket_room.clear()
                    await self.bucket_room.wait()
                continue
            del self.rx[:8]
            if cmd == SMUX_SYN:
                if sid in self.streams:
                    s.record("smux_duplicate_syn", session=s.id, stream=sid)
                    continue
                st = MuxStream()
                st.sid, st.queue, st.writer = sid, asyncio.Queue(), None
                st.fin_received = st.fin_sent = False
                st.reader_task = None
                self.streams[sid] = st
                s.record("smux_syn", session=s.id, stream=sid)
                s.spawn(self.stream_writer(st))
            elif cmd == SMUX_FIN:
                st = self.streams.get(sid)
                s.record("smux_fin", session=s.id, stream=sid, known=st is not None)
                if st is not None and not st.fin_received:
                    st.fin_received = True
                    st.queue.put_nowait(None)
            elif cmd == SMUX_NOP:
                pass
            else:
                s.record("smux_unknown_cmd", session=s.id, cmd=cmd, stream=sid)
        return True

    async def stream_writer(self, st):
        s = self.session
        try:
            reader, writer = await dial(s, self.host, self.port)
        except OSError as e:
            s.record("dial_failed", session=s.id, stream=st.sid, host=self.host, port=self.port, error=str(e))
            await self.send_fin(st)
            self.drain_queue(st)
            return
        s.record("dialed", session=s.id, stream=st.sid, host=self.host, port=self.port, mode="smux")
        st.writer = writer
        st.reader_task = s.spawn(self.stream_reader(st, reader))
        while True:
            body = await st.queue.get()
            if body is None:
                break
            self.release(len(body))
            if st.fin_sent:
                continue
            writer.write(body)
            try:
                await writer.drain()
            except (ConnectionResetError, BrokenPipeError):
                pass
        # FIN from the client: finish writing, close the connection, send our FIN
        writer.close()
        await self.send_fin(st)
        if st.reader_task:
            st.reader_task.cancel()
        self.streams.pop(st.sid, None)

    def release(self, n):
        self.queued -= n
        if self.queued < SMUX_RECEIVE_BUCKET:
            self.bucket_room.set()

    def drain_queue(self, st):
        while not st.queue.empty():
            body = st.queue.get_nowait()
            if body:
                self.release(len(body))

    async def stream_reader(self, st, reader):
        s = self.session
        while True:
            await s.ready_to_send()
            try:
                data = await reader.read(READ_SIZE)
            except OSError:
                data = b""
            if not data:
                break
            await self.emit(SMUX_PSH, st.sid, data)
        s.record("port_closed", session=s.id, stream=st.sid, by="target")
        await self.send_fin(st)
        if st.writer is not None:
            st.writer.close()

    async def send_fin(self, st):
        if not st.fin_sent:
            st.fin_sent = True
            await self.emit(SMUX_FIN, st.sid, b"")

    def resize(self, cols, rows):
        pass

    async def disconnect_port(self):
        pass

    async def stop(self):
        for st in list(self.streams.values()):
            if st.writer is not None:
                st.writer.close()


# ------------------------------------------------------------- HTTP server

ECS_PREFIX = "AmazonEC2ContainerServiceV20141113"

SSM_OPS = {
    "StartSession": "start_session",
    "ResumeSession": "resume_session",
    "TerminateSession": "terminate_session",
    "DescribeInstanceInformation": "describe_instance_information",
    "GetDocument": "get_document",
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ssm-standin"

    def log_message(self, fmt, *args):  # quiet
        pass

    def send_json(self, status, obj, error_type=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def run(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.server.service.loop).result(timeout)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        service = self.server.service
        if self.path.startswith("/faults"):
            self.send_json(200, service.faults.snapshot())
        elif self.path.startswith("/sessions"):
            self.send_json(200, self.run(self._summary()))
        elif self.server.upstream:
            self.forward(b"")
        else:
            self.send_json(404, {"message": "not found"})

    async def _summary(self):
        return self.server.service.sessions_summary()

    def do_POST(self):
        service = self.server.service
        raw = self.body()
        if self.path.startswith("/faults"):
            try:
                changes = json.loads(raw or b"{}")
                service.faults.update(changes)
                result = {"faults": service.faults.snapshot()}
                if changes.get("drop_now"):
                    result.update(self.run(service.drop_now(changes.get("session"),
                                                            changes.get("mode", service.faults["drop_mode"]))))
                if changes.get("publication"):
                    result.update(self.run(service.publication(changes["publication"], changes.get("session"))))
                service.record("faults", changes=changes)
                service.record.flush()
                self.send_json(200, result)
            except (ValueError, TypeError, KeyError) as e:
                self.send_json(400, {"message": str(e)})
            return
        target = self.headers.get("X-Amz-Target") or ""
        if not target and b"Action=SimulatePrincipalPolicy" in raw:
            form = dict(urllib.parse.parse_qsl(raw.decode()))
            status, body = service.iam.simulate(form)
            service.record("call", op="iam.SimulatePrincipalPolicy", request=form, status=status)
            service.record.flush()
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        prefix, _, op = target.partition(".")
        if prefix == "AmazonSSM" and op in SSM_OPS:
            method = getattr(service, SSM_OPS[op])
        elif prefix == ECS_PREFIX and op == "ExecuteCommand":
            method = service.execute_command
        elif prefix == ECS_PREFIX and op in EcsExec.OPS:
            method = op
        elif prefix == "TrentService" and op in ("GenerateDataKey", "Decrypt", "DescribeKey"):
            method = None
        elif self.server.upstream:
            self.forward(raw)
            return
        else:
            self.send_json(400, {"__type": "UnknownOperationException", "message": f"{target} is not served here"},
                           "UnknownOperationException")
            return
        try:
            req = json.loads(raw or b"{}")
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError:
            self.send_json(400, {"__type": "SerializationException", "message": "body is not JSON"})
            return
        try:
            if method in EcsExec.OPS:
                try:
                    result = getattr(service.ecs, {"DescribeTasks": "describe_tasks",
                                                   "ListTasks": "list_tasks",
                                                   "DescribeClusters": "describe_clusters",
                                                   "DescribeTaskDefinition": "describe_task_definition",
                                                   }[op])(req, self.upstream_json)
                except EcsApiError as e:
                    raise ApiError(e.status, e.code, e.message) from None
            elif method is None:
                if op == "GenerateDataKey":
                    result = service.kms.generate_data_key(req, refuse=service.faults["refuse_kms"],
                                                           caller=service.caller)
                elif op == "DescribeKey":
                    result = service.kms.describe_key(req)
                else:
                    result = service.kms.decrypt(req)
            else:
                result = self.run(method(req))
            service.record("call", op=f"{prefix}.{op}", request=req, status=200,
                           session=result.get("SessionId"))
            if prefix == ECS_PREFIX:
                result.pop("SessionId", None)
            self.send_json(200, result)
        except ApiError as e:
            service.record("call", op=f"{prefix}.{op}", request=req, status=e.status, error=e.code)
            self.send_json(e.status, {"__type": e.code, "message": e.message}, e.code)
        service.record.flush()

    def upstream_json(self, op, req):
        """`op` of ECS at the upstream: (status, body), or None without one."""
        up = self.server.upstream
        if up is None:
            return None
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("connection", "keep-alive", "content-length", "x-amz-target")}
        headers["X-Amz-Target"] = f"{ECS_PREFIX}.{op}"
        conn.request("POST", self.path, body=json.dumps(req).encode(), headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        try:
            return resp.status, json.loads(payload or b"{}")
        except ValueError:
            return resp.status, {}

    def forward(self, raw):
        up = self.server.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        conn.request(self.command, self.path, body=raw, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        conn.close()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


# -------------------------------------------------------------------- main

def load_config(args):
    config = {}
    if args.config:
        with open(args.config) as f:
            config = json.load(f)
    if args.config_json:
        config = json.loads(args.config_json)
    instances = config.setdefault("instances", {})
    for spec in args.instance or []:
        iid, _, addr = spec.partition("=")
        instances.setdefault(iid, {})["address"] = addr or "127.0.0.1"
    for iid, inst in instances.items():
        addr = inst.get("address", "127.0.0.1")
        if not check_loopback(addr):
            sys.exit(f"ssm_standin.py: {iid}'s address {addr} is not on 127.0.0.0/8")
    return config


async def amain(args):
    config = load_config(args)
    record = Recorder(args.log)
    faults = Faults(json.loads(args.faults) if args.faults else config.get("faults"))
    ws_port = [0]
    service = Service(config, faults, record, ws_port)
    service.loop = asyncio.get_running_loop()
    tls = None
    service.ws_scheme = "ws"
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            sys.exit("ssm_standin.py: --tls-cert and --tls-key go together")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        service.ws_scheme = "wss"
    ws_server = await ws_serve(service.ws_handler, "127.0.0.1", args.ws_port, ping_interval=54,
                               ssl=tls,
                               process_request=service.ws_process_request,
                               ping_timeout=60, max_size=1 << 22, compression=None,
                               max_queue=64)
    ws_port[0] = ws_server.sockets[0].getsockname()[1]
    httpd = HttpServer(("127.0.0.1", args.port), Handler)
    scheme = "http"
    if args.tls_control:
        if tls is None:
            sys.exit("ssm_standin.py: --tls-control needs --tls-cert and --tls-key")
        # The handshake happens in the request's thread, on its first read.
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"
    httpd.service = service
    httpd.upstream = urllib.parse.urlparse(args.upstream) if args.upstream else None
    if httpd.upstream and httpd.upstream.hostname not in ("127.0.0.1", "localhost"):
        sys.exit("ssm_standin.py: the upstream must be on 127.0.0.1")
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    record("started", endpoint=f"{scheme}://127.0.0.1:{port}", stream=f"{service.ws_scheme}://127.0.0.1:{ws_port[0]}",
           instances=sorted(config.get("instances", {})))
    record.flush()
    sys.stdout.write(json.dumps({"endpoint": f"{scheme}://127.0.0.1:{port}", "stream": f"{service.ws_scheme}://127.0.0.1:{ws_port[0]}",
                                 "control": f"{scheme}://127.0.0.1:{port}/faults", "log": args.log}) + "\n")
    sys.stdout.flush()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read1(65536):
                pass
        except (OSError, ValueError):
            pass
        loop.call_soon_threadsafe(stop.set)

    if not args.no_stdin:
        threading.Thread(target=watch_stdin, daemon=True).start()
    await stop.wait()
    for s in list(service.sessions.values()):
        if s.handler is not None:
            await s.handler.stop()
    record("stopped")
    record.flush()
    httpd.shutdown()
    ws_server.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="a JSON config file (see ssm_standin.md)")
    ap.add_argument("--config-json", help="the config as a JSON string")
    ap.add_argument("--instance", action="append", metavar="ID=ADDR",
                    help="a managed instance, Online, reached at ADDR (127.0.0.N)")
    ap.add_argument("--faults", help="initial fault switches, JSON")
    ap.add_argument("--log", help="the recorder's JSON-lines file")
    ap.add_argument("--port", type=int, default=0, help="the control plane's port (default: free)")
    ap.add_argument("--ws-port", type=int, default=0, help="the data channel's port (default: free)")
    ap.add_argument("--upstream", help="forward unserved requests here (e.g. moto)")
    ap.add_argument("--no-stdin", action="store_true", help="do not stop at stdin EOF")
    ap.add_argument("--tls-cert", help="serve the data channel over TLS (wss://) with this PEM certificate chain")
    ap.add_argument("--tls-key", help="the PEM private key of --tls-cert")
    ap.add_argument("--tls-control", action="store_true",
                    help="serve the control plane over TLS too (https://), with --tls-cert")
    args = ap.parse_args()
    profile = os.environ.get("SSM_STANDIN_PROFILE")
    if profile:  # a developer's aid: cProfile stats of the whole run to this file
        import cProfile
        cProfile.runctx("asyncio.run(amain(args))", globals(), {"args": args, "amain": amain}, profile)
        return
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
