#!/usr/bin/env python3
"""Self-test of ssm_standin.py: a minimal Session Manager client in Python
(frames, acknowledgements, resend, handshake, KMS, smux) written apart from
the stand-in's own codec. It starts the stand-in, runs each check, prints
one line per check and a closing 'N passed, N failed' line, and exits
non-zero on any failure.

    .venv/bin/python tests/support/ssm_standin_selftest.py [-k NAME] [--mb N]
"""

import argparse
import asyncio
import base64
import hashlib
import http.client
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

import websockets
from websockets.protocol import State
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------------ codec
# Written from the protocol notes (§3), not shared with the stand-in.

def frame(mtype, seq, flags, ptype, payload, mid=None):
    mid = mid or uuid.uuid4()
    b = mid.bytes
    out = bytearray()
    out += (116).to_bytes(4, "big")
    out += mtype.encode().ljust(32, b" ")
    out += (1).to_bytes(4, "big")
    out += int(time.time() * 1000).to_bytes(8, "big")
    out += seq.to_bytes(8, "big", signed=True)
    out += flags.to_bytes(8, "big")
    out += b[8:16] + b[0:8]
    out += hashlib.sha256(payload).digest()
    out += ptype.to_bytes(4, "big")
    out += len(payload).to_bytes(4, "big")
    out += payload
    return bytes(out), str(mid)


def parse(data):
    hl = int.from_bytes(data[0:4], "big")
    assert hl == 116, f"HeaderLength {hl}"
    mtype = data[4:36]
    assert mtype.rstrip(b" ") == mtype.rstrip(b" \x00"), "MessageType padded with NULs, not spaces"
    m = {
        "type": mtype.decode().strip(),
        "schema": int.from_bytes(data[36:40], "big"),
        "created": int.from_bytes(data[40:48], "big"),
        "seq": int.from_bytes(data[48:56], "big", signed=True),
        "flags": int.from_bytes(data[56:64], "big"),
        "id": str(uuid.UUID(bytes=bytes(data[72:80] + data[64:72]))),
        "digest": bytes(data[80:112]),
        "ptype": int.from_bytes(data[112:116], "big"),
    }
    n = int.from_bytes(data[116:120], "big")
    m["payload"] = bytes(data[120:120 + n])
    assert len(m["payload"]) == n
    m["digest_ok"] = n == 0 or hashlib.sha256(m["payload"]).digest() == m["digest"]
    return m


def gcm_enc(key, data):
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, data, None)


def gcm_dec(key, data):
    return AESGCM(key).decrypt(data[:12], data[12:], None)


# ---------------------------------------------------------------- client

class ApiFailure(Exception):
    def __init__(self, status, body):
        super().__init__(f"{status} {body}")
        self.status, self.body = status, body


class Standin:
    def __init__(self, config):
        self.dir = tempfile.TemporaryDirectory(prefix="ssm-standin-")
        self.log = os.path.join(self.dir.name, "standin.log")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "ssm_standin.py"), "--config-json", json.dumps(config),
             "--log", self.log], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = json.loads(self.proc.stdout.readline())
        self.endpoint = ready["endpoint"]
        self.port = int(self.endpoint.rsplit(":", 1)[1])

    def call(self, target, body, path="/"):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/x-amz-json-1.1"}
        if target:
            headers["X-Amz-Target"] = target
        conn.request("POST", path, body=json.dumps(body), headers=headers)
        r = conn.getresponse()
        data = json.loads(r.read() or b"{}")
        conn.close()
        if r.status != 200:
            raise ApiFailure(r.status, data)
        return data

    def ssm(self, op, body):
        return self.call(f"AmazonSSM.{op}", body)

    def faults(self, changes):
        return self.call(None, changes, path="/faults")

    def events(self):
        time.sleep(0.25)  # the recorder flushes every 100 ms
        with open(self.log) as f:
            return [json.loads(line) for line in f]

    def cpu_seconds(self):
        """user+system CPU time the stand-in process has used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.dir.cleanup()


class Client:
    def __init__(self, standin, client_version="1.2.707.0", target=None):
        self.standin = standin
        self.client_version = client_version
        self.target = target
        self.ws = None
        self.out_seq = 0
        self.unacked = {}
        self.expected = 0
        self.buffered = {}
        self.received = []          # (ptype, payload) in order, decrypted
        self.got = asyncio.Event()
        self.closed = asyncio.Event()
        self.closed_output = None
        self.session_id = None
        self.session_type = None
        self.enc_key = self.dec_key = None  # enc: client->agent (32..64), dec: agent->client (0..32)
        self.handshake_complete = asyncio.Event()
        self.customer_message = None
        self.kms_target = target
        self.tasks = []
        self.dead = asyncio.Event()
        self.acks_received = 0

    async def start(self, target, document=None, parameters=None):
        body = {"Target": target}
        if document:
            body["DocumentName"] = document
        if parameters:
            body["Parameters"] = parameters
        r = self.standin.ssm("StartSession", body)
        self.session_id = r["SessionId"]
        self.kms_target = target
        assert r["StreamUrl"].endswith(f"/v1/data-channel/{r['SessionId']}?role=publish_subscribe"), r["StreamUrl"]
        self.stream_url = r["StreamUrl"]
        await self.connect(r["TokenValue"])
        self.tasks.append(asyncio.create_task(self.resend_loop()))
        return r

    async def connect(self, token):
        self.dead.clear()
        self.ws = await websockets.connect(self.stream_url, max_size=1 << 22, compression=None,
                                           ping_interval=None)
        await self.ws.send(json.dumps({"MessageSchemaVersion": "1.0", "RequestId": str(uuid.uuid4()),
                                       "TokenValue": token, "ClientId": str(uuid.uuid4()),
                                       "ClientVersion": self.client_version}))
        self.tasks.append(asyncio.create_task(self.recv_loop(self.ws)))
        for seq in sorted(self.unacked):
            await self.raw(self.unacked[seq][0])

    async def resume(self):
        r = self.standin.ssm("ResumeSession", {"SessionId": self.session_id})
        assert r.get("TokenValue"), r
        assert r["StreamUrl"] == self.stream_url
        await self.connect(r["TokenValue"])

    async def raw(self, data):
        # a send on a closing connection waits for the close to finish; from
        # the receive loop that would stop it reading the server's EOF
        if self.ws.state is not State.OPEN:
            return
        try:
            await self.ws.send(data)
        except websockets.ConnectionClosed:
            pass

    async def send(self, ptype, payload):
        if ptype == 1 and self.enc_key is not None:
            payload = gcm_enc(self.enc_key, payload)
        f, _ = frame("input_stream_data", self.out_seq, 0, ptype, payload)
        self.unacked[self.out_seq] = [f, time.monotonic()]
        self.out_seq += 1
        await self.raw(f)

    async def resend_loop(self):
        while True:
            await asyncio.sleep(0.1)
            now = time.monotonic()
            for seq in sorted(self.unacked):
                entry = self.unacked.get(seq)
                if entry and now - entry[1] > 0.2 and not self.dead.is_set():
                    entry[1] = now
                    await self.raw(entry[0])

    async def ack(self, m):
        body = json.dumps({"AcknowledgedMessageType": m["type"], "AcknowledgedMessageId": m["id"],
                           "AcknowledgedMessageSequenceNumber": m["seq"],
                           "IsSequentialMessage": True}).encode()
        f, _ = frame("acknowledge", 0, 3, 0, body)
        await self.raw(f)

    async def recv_loop(self, ws):
        try:
            async for data in ws:
                m = parse(data)
                if m["type"] == "acknowledge":
                    a = json.loads(m["payload"])
                    self.acks_received += 1
                    self.unacked.pop(a["AcknowledgedMessageSequenceNumber"], None)
                elif m["type"] == "channel_closed":
                    self.closed_output = json.loads(m["payload"])
                    self.closed.set()
                elif m["type"] == "output_stream_data":
                    if not m["digest_ok"]:
                        continue  # a corrupted message: drop it, the agent resends
                    assert m["flags"] == (1 if m["seq"] == 0 else 0), m
                    await self.ack(m)
                    if m["seq"] == self.expected:
                        await self.process(m)
                        self.expected += 1
                        while self.expected in self.buffered:
                            await self.process(self.buffered.pop(self.expected))
                            self.expected += 1
                    elif m["seq"] > self.expected:
                        self.buffered[m["seq"]] = m
        except websockets.ConnectionClosed:
            pass
        finally:
            if ws is self.ws:
                self.dead.set()

    async def process(self, m):
        pt, payload = m["ptype"], m["payload"]
        if pt == 5:
            await self.on_handshake(json.loads(payload))
            return
        if pt == 8:
            challenge = gcm_dec(self.dec_key, base64.b64decode(json.loads(payload)["Challenge"]))
            await self.send(9, json.dumps({"Challenge": base64.b64encode(gcm_enc(self.enc_key, challenge)).decode()}).encode())
            return
        if pt == 7:
            self.customer_message = json.loads(payload).get("CustomerMessage")
            self.handshake_complete.set()
            return
        if pt in (1, 11, 12) and self.dec_key is not None:
            payload = gcm_dec(self.dec_key, payload)
        if self.session_type is None:
            self.session_type = "Standard_Stream"
        self.received.append((pt, payload))
        self.got.set()
        self.on_data(pt, payload)

    def on_data(self, pt, payload):
        pass

    async def on_handshake(self, req):
        self.agent_version = req["AgentVersion"]
        processed = []
        for action in req["RequestedClientActions"]:
            kind, params = action["ActionType"], action["ActionParameters"]
            if kind == "SessionType":
                self.session_type = params["SessionType"]
                self.properties = params.get("Properties")
                processed.append({"ActionType": kind, "ActionStatus": 1, "ActionResult": None, "Error": ""})
            elif kind == "KMSEncryption":
                r = self.standin.call("TrentService.GenerateDataKey", {
                    "KeyId": params["KMSKeyId"], "NumberOfBytes": 64,
                    "EncryptionContext": {"aws:ssm:SessionId": self.session_id,
                                          "aws:ssm:TargetId": self.kms_target}})
                key = base64.b64decode(r["Plaintext"])
                self.dec_key, self.enc_key = key[:32], key[32:]
                processed.append({"ActionType": kind, "ActionStatus": 1,
                                  "ActionResult": {"KMSCipherTextKey": r["CiphertextBlob"]}, "Error": ""})
        await self.send(6, json.dumps({"ClientVersion": self.client_version,
                                       "ProcessedClientActions": processed, "Errors": []}).encode())

    def text(self, types=(1,)):
        return b"".join(p for t, p in self.received if t in types).decode("utf-8", "replace")

    async def wait_for(self, predicate, timeout=10, what="condition"):
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; output so far: {self.text()[-400:]!r}")
            self.got.clear()
            try:
                await asyncio.wait_for(self.got.wait(), min(left, 0.2))
            except asyncio.TimeoutError:
                pass

    async def close(self):
        for t in self.tasks:
            t.cancel()
        if self.ws is not None:
            await self.ws.close()


class Smux:
    """The client end of smux v1 over a port session."""

    def __init__(self, client):
        self.client = client
        self.rx = bytearray()
        self.next_id = 1
        self.data = {}
        self.fin = {}
        client.on_data = self.on_data
        self.event = asyncio.Event()

    def on_data(self, pt, payload):
        if pt != 1:
            return
        self.rx += payload
        while len(self.rx) >= 8:
            ver, cmd, length, sid = struct.unpack_from("<BBHI", self.rx)
            assert ver == 1, ver
            if cmd == 2:
                if len(self.rx) < 8 + length:
                    return
                self.data.setdefault(sid, bytearray()).extend(self.rx[8:8 + length])
                del self.rx[:8 + length]
            else:
                del self.rx[:8]
                if cmd == 1:
                    self.fin[sid] = True
            self.event.set()

    async def write_stream(self, data):
        # the byte stream rides in Output payloads of at most 1,024 bytes
        for i in range(0, len(data), 1024):
            await self.client.send(1, data[i:i + 1024])

    async def open(self):
        self.next_id += 2
        sid = self.next_id
        await self.write_stream(struct.pack("<BBHI", 1, 0, 0, sid))
        return sid

    async def push(self, sid, data):
        buf = bytearray()
        for i in range(0, len(data), 32768):
            chunk = data[i:i + 32768]
            buf += struct.pack("<BBHI", 1, 2, len(chunk), sid) + chunk
        await self.write_stream(bytes(buf))

    async def close(self, sid):
        await self.write_stream(struct.pack("<BBHI", 1, 1, 0, sid))


# ------------------------------------------------------------ TCP servers

async def start_echo():
    async def handle(r, w):
        while True:
            d = await r.read(65536)
            if not d:
                break
            w.write(d)
            await w.drain()
        w.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def start_source(nbytes, seed=b"source"):
    """Sends nbytes of deterministic data, then closes."""
    block = hashlib.sha256(seed).digest() * 2048  # 64 KiB

    async def handle(r, w):
        left = nbytes
        while left > 0:
            chunk = block[:min(left, len(block))]
            w.write(chunk)
            left -= len(chunk)
            await w.drain()
        w.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    expected = hashlib.sha256((block * (nbytes // len(block) + 1))[:nbytes]).hexdigest()
    return server, server.sockets[0].getsockname()[1], expected


# ----------------------------------------------------------------- checks

INSTANCE = "i-0123456789abcdef0"
KMS_INSTANCE = "i-0kms0000000000000"
OFFLINE = "i-0offline000000000"
OLD_AGENT = "i-0oldagent00000000"


async def check_control_plane(st, ports):
    try:
        st.ssm("StartSession", {"Target": "i-0nothere000000000"})
        raise AssertionError("StartSession to an unknown target succeeded")
    except ApiFailure as e:
        assert e.status == 400 and e.body["__type"] == "TargetNotConnected", e.body
    try:
        st.ssm("StartSession", {"Target": OFFLINE})
        raise AssertionError("StartSession to an offline target succeeded")
    except ApiFailure as e:
        assert e.body["__type"] == "TargetNotConnected", e.body
    try:
        st.ssm("StartSession", {"Target": INSTANCE, "DocumentName": "AWS-NoSuchDocument"})
        raise AssertionError("unknown document accepted")
    except ApiFailure as e:
        assert e.body["__type"] == "InvalidDocument", e.body
    st.faults({"refuse_start": "AccessDenied"})
    try:
        st.ssm("StartSession", {"Target": INSTANCE})
        raise AssertionError("refuse_start ignored")
    except ApiFailure as e:
        assert e.body["__type"] == "AccessDeniedException", e.body
    st.faults({"refuse_start": None})
    info = st.ssm("DescribeInstanceInformation", {"Filters": [{"Key": "InstanceIds", "Values": [INSTANCE, OFFLINE]}]})
    pings = {i["InstanceId"]: i["PingStatus"] for i in info["InstanceInformationList"]}
    assert pings == {INSTANCE: "Online", OFFLINE: "ConnectionLost"}, pings
    r = st.ssm("StartSession", {"Target": INSTANCE})
    assert r["SessionId"].startswith("selftest-") and len(r["SessionId"]) == len("selftest-") + 17, r
    assert st.ssm("TerminateSession", {"SessionId": r["SessionId"]}) == {"SessionId": r["SessionId"]}
    assert "TokenValue" not in st.ssm("ResumeSession", {"SessionId": r["SessionId"]})
    return "errors, DescribeInstanceInformation, Terminate/Resume of an ended session"


async def check_shell(st, ports):
    c = Client(st)
    await c.start(INSTANCE)
    await c.send(3, json.dumps({"cols": 132, "rows": 43}).encode())
    await c.send(1, b"echo hel''lo; stty size; echo $TERM\r")
    await c.wait_for(lambda: "hello\r\n" in c.text(), what="hello")
    await c.wait_for(lambda: "43 132" in c.text(), what="stty size 43 132")
    await c.wait_for(lambda: "xterm-256color" in c.text(), what="TERM")
    assert c.session_type == "Standard_Stream" and c.received[0][0] == 1
    await c.send(1, b"exit\r")
    await asyncio.wait_for(c.closed.wait(), 10)
    assert c.closed_output["SessionId"] == c.session_id, c.closed_output
    await c.close()
    ev = st.events()
    recvd = [e for e in ev if e["event"] == "recv" and e.get("session") == c.session_id and e["type"] == "input_stream_data"]
    # seq 0 (Size) may arrive before the pty is up: "not ready", not acknowledged, resent
    assert sorted({e["seq"] for e in recvd}) == list(range(3)), recvd
    assert any(e["event"] == "size" and e["cols"] == 132 for e in ev)
    return "echo hello, Size 132x43 reached the pty, TERM, exit -> channel_closed, recorder"


async def check_noninteractive(st, ports):
    c = Client(st)
    await c.start(INSTANCE, "AWS-StartNonInteractiveCommand",
                  {"command": ["echo out; echo err >&2; exit 3"], "separateOutputStream": ["true"]})
    await asyncio.wait_for(c.closed.wait(), 10)
    assert c.session_type == "NonInteractiveCommands", c.session_type
    assert c.text((1,)) == "out\n", c.text((1,))
    assert c.text((11,)) == "err\n", c.text((11,))
    assert c.text((12,)) == "EXIT_CODE: 3", c.text((12,))
    await c.close()
    return "Output 'out', StdErr 'err', ExitCode 'EXIT_CODE: 3'"


async def check_interactive_command(st, ports):
    c = Client(st)
    await c.start(INSTANCE, "AWS-StartInteractiveCommand", {"command": ["tty; echo done"]})
    await asyncio.wait_for(c.closed.wait(), 10)
    assert "/dev/pts/" in c.text() and "done\r\n" in c.text(), c.text()
    await c.close()
    return "runs on a pty, no handshake without KMS"


async def check_smux(st, ports):
    c = Client(st, client_version="1.2.707.0")
    mux = Smux(c)
    await c.start(INSTANCE, "AWS-StartPortForwardingSession",
                  {"portNumber": [str(ports["echo"])], "localPortNumber": ["0"]})
    await asyncio.wait_for(c.handshake_complete.wait(), 10)
    assert c.session_type == "Port" and c.properties["type"] == "LocalPortForwarding", c.properties
    payloads = {}
    for i in range(5):
        sid = await mux.open()
        payloads[sid] = os.urandom(100_000 + 7919 * i) + b"\n"
    for sid, data in payloads.items():
        await mux.push(sid, data)
    await c.wait_for(lambda: all(len(mux.data.get(s, b"")) >= len(d) for s, d in payloads.items()),
                     timeout=60, what="echoes")
    for sid, data in payloads.items():
        assert hashlib.sha256(mux.data[sid]).digest() == hashlib.sha256(data).digest(), sid
        await mux.close(sid)
    await c.wait_for(lambda: all(mux.fin.get(s) for s in payloads), what="FINs")
    assert sorted(payloads) == [3, 5, 7, 9, 11]
    dialed = [e for e in st.events() if e["event"] == "dialed" and e.get("session") == c.session_id]
    assert len(dialed) == 5 and all(e["mode"] == "smux" for e in dialed), dialed
    await c.send(10, struct.pack(">I", 2))  # Flag TerminateSession
    await asyncio.wait_for(c.closed.wait(), 10)
    await c.close()
    return f"5 streams ({sum(map(len, payloads.values()))} bytes) echoed with matching sha256, FIN each, one TCP connection per stream"


async def check_basic_port(st, ports):
    c = Client(st, client_version="1.1.60.0")
    await c.start(INSTANCE, "AWS-StartPortForwardingSession", {"portNumber": [str(ports["echo"])]})
    await asyncio.wait_for(c.handshake_complete.wait(), 10)
    data = os.urandom(50_000)
    for i in range(0, len(data), 1024):
        await c.send(1, data[i:i + 1024])
    await c.wait_for(lambda: sum(len(p) for t, p in c.received if t == 1) >= len(data),
                     what="basic echo")
    got = b"".join(p for t, p in c.received if t == 1)
    assert got == data
    await c.send(10, struct.pack(">I", 1))  # DisconnectToPort: the agent re-dials on the next data
    await c.send(1, b"again")
    await c.wait_for(lambda: b"".join(p for t, p in c.received if t == 1).endswith(b"again"), what="re-dial")
    dialed = [e for e in st.events() if e["event"] == "dialed" and e.get("session") == c.session_id]
    assert [e["mode"] for e in dialed] == ["basic", "basic"], dialed
    await c.close()
    st.ssm("TerminateSession", {"SessionId": c.session_id})
    return "client 1.1.60 -> basic mode, echo, DisconnectToPort then re-dial"


async def check_old_agent_basic(st, ports):
    c = Client(st, client_version="1.2.707.0")
    await c.start(OLD_AGENT, "AWS-StartPortForwardingSession", {"portNumber": [str(ports["echo"])]})
    await asyncio.wait_for(c.handshake_complete.wait(), 10)
    await c.send(1, b"plain bytes, no smux")
    await c.wait_for(lambda: b"".join(p for t, p in c.received if t == 1) == b"plain bytes, no smux",
                     what="basic echo")
    dialed = [e for e in st.events() if e["event"] == "dialed" and e.get("session") == c.session_id]
    assert [e["mode"] for e in dialed] == ["basic"], dialed
    await c.close()
    st.ssm("TerminateSession", {"SessionId": c.session_id})
    return "agent 3.0.196.0 -> basic mode even for client 1.2.707.0"


async def check_ssh_session(st, ports):
    c = Client(st)
    await c.start(INSTANCE, "AWS-StartSSHSession", {"portNumber": [str(ports["source_small"])]})
    await asyncio.wait_for(c.closed.wait(), 10)
    assert c.properties == {"portNumber": str(ports["source_small"])}, c.properties
    got = b"".join(p for t, p in c.received if t == 1)
    assert hashlib.sha256(got).hexdigest() == ports["source_small_sha"]
    await c.close()
    return "Properties {portNumber} only, data then port close -> channel_closed"


async def check_resume(st, ports):
    c = Client(st)
    await c.start(INSTANCE)
    await c.send(1, b"X=kept\r")
    await c.send(1, b"echo ready$((1+1))\r")
    await c.wait_for(lambda: "ready2" in c.text(), what="ready2")
    st.faults({"drop_now": True, "session": c.session_id})
    await asyncio.wait_for(c.dead.wait(), 5)
    # input while the socket is down is buffered and resent after the resume
    await c.send(1, b"echo state=$X\r")
    await c.resume()
    await c.wait_for(lambda: "state=kept" in c.text(), what="state after resume")
    # a duplicate below the expected sequence number is re-acknowledged
    dup = c.unacked.get(c.out_seq - 1)
    f, _ = frame("input_stream_data", 0, 0, 1, b"x")
    before = c.acks_received
    await c.raw(f)
    await c.wait_for(lambda: c.acks_received > before, what="re-ack of a duplicate")
    ev = st.events()
    assert any(e["event"] == "duplicate" and e["session"] == c.session_id for e in ev)
    assert any(e["event"] == "ws_open" and e["session"] == c.session_id and e["resumed"] for e in ev)
    await c.send(1, b"exit\r")
    await asyncio.wait_for(c.closed.wait(), 10)
    await c.close()
    del dup
    return "drop_now, ResumeSession, shell state kept, pending input resent, duplicate re-acked"


async def check_resume_download(st, ports):
    c = Client(st)
    await c.start(INSTANCE, "AWS-StartSSHSession", {"portNumber": [str(ports["source"])]})
    st.faults({"drop_after_sent": 2000, "drop_mode": "close"})
    resumes = 0
    while not c.closed.is_set():
        if c.dead.is_set():
            await c.resume()
            resumes += 1
            if resumes == 1:
                # then a TCP abort, 2000 messages into the new connection. An abort
                # loses every message in the socket buffers (thousands: the stand-in
                # does not pace), more than the agent's one-per-100-ms resend of the
                # oldest recovers before the session's 2 s flush at its end: resend
                # every overdue message here.
                st.faults({"drop_after_sent": 2000, "drop_mode": "abort", "resend": "all"})
        try:
            await asyncio.wait_for(c.closed.wait(), 0.05)
        except asyncio.TimeoutError:
            pass
    got = b"".join(p for t, p in c.received if t == 1)
    assert hashlib.sha256(got).hexdigest() == ports["source_sha"], (len(got), ports["source_bytes"])
    ev = [e for e in st.events() if e.get("session") == c.session_id]
    drops = [e["mode"] for e in ev if e["event"] == "fault" and e.get("fault") == "drop"]
    assert drops == ["close", "abort"], drops
    st.faults({"reset": True})
    await c.close()
    resent = sum(1 for e in ev if e["event"] == "resend")
    return f"{len(got)} bytes intact across a Close 1000 'Bye' and a TCP abort ({resumes} resumes, {resent} resends)"


async def check_corrupt_and_withheld(st, ports):
    c = Client(st)
    await c.start(INSTANCE)
    await c.wait_for(lambda: c.received, what="prompt")
    st.faults({"corrupt_digest": 1, "withhold_acks": True})
    await c.send(1, b"echo ok$((2+3))\r")
    await asyncio.sleep(0.5)
    assert c.unacked, "acks were not withheld"
    st.faults({"withhold_acks": False})
    await c.wait_for(lambda: "ok5" in c.text(), what="output after corrupted digests")
    await c.wait_for(lambda: not c.unacked, what="acks once released")
    ev = [e for e in st.events() if e.get("session") == c.session_id]
    assert sum(1 for e in ev if e.get("fault") == "corrupt_digest") == 1
    assert any(e["event"] == "resend" for e in ev)
    st.faults({"no_channel_closed": True})
    await c.send(1, b"exit\r")
    try:
        await asyncio.wait_for(c.closed.wait(), 2.5)
        raise AssertionError("channel_closed sent despite no_channel_closed")
    except asyncio.TimeoutError:
        pass
    st.faults({"reset": True})
    await c.close()
    return "corrupted digests dropped and resent, withheld acks -> client resends, no_channel_closed"


async def check_loss_and_publication(st, ports):
    c = Client(st)
    mux = Smux(c)
    await c.start(INSTANCE, "AWS-StartPortForwardingSession", {"portNumber": [str(ports["echo"])]})
    await asyncio.wait_for(c.handshake_complete.wait(), 10)
    st.faults({"drop_input_every": 7})
    sid = await mux.open()
    data = os.urandom(200_000)
    await mux.push(sid, data)
    await c.wait_for(lambda: len(mux.data.get(sid, b"")) >= len(data), timeout=60, what="echo under loss")
    assert bytes(mux.data[sid]) == data
    st.faults({"drop_input_every": 0})
    r = st.faults({"publication": "pause", "session": c.session_id})
    assert r["publication"] == [c.session_id], r
    ev = [e for e in st.events() if e.get("session") == c.session_id]
    dropped = sum(1 for e in ev if e.get("fault") == "drop_input")
    assert dropped > 0
    assert any(e["event"] == "send" and e["type"] == "pause_publication" for e in ev)
    st.ssm("TerminateSession", {"SessionId": c.session_id})
    await asyncio.wait_for(c.closed.wait(), 10)
    await c.close()
    return f"200 kB echoed intact with every 7th input dropped ({dropped} dropped), pause_publication sent, TerminateSession -> channel_closed"


async def check_kms(st, ports):
    c = Client(st)
    await c.start(KMS_INSTANCE)
    await asyncio.wait_for(c.handshake_complete.wait(), 10)
    assert c.customer_message == "This session is encrypted using AWS KMS.", c.customer_message
    await c.send(1, b"echo sec''ret\r")
    await c.wait_for(lambda: "secret\r\n" in c.text(), what="secret")
    await c.send(1, b"exit\r")
    await asyncio.wait_for(c.closed.wait(), 10)
    ev = [e for e in st.events() if e.get("session") == c.session_id]
    assert any(e["event"] == "handshake_response" for e in ev)
    assert any(e["event"] == "challenge_passed" for e in ev), ev
    await c.close()
    st.faults({"refuse_kms": True})
    try:
        st.call("TrentService.GenerateDataKey", {"KeyId": "alias/session-key", "NumberOfBytes": 64})
        raise AssertionError("refuse_kms ignored")
    except ApiFailure as e:
        assert e.body["__type"] == "AccessDeniedException", e.body
        assert "kms:GenerateDataKey" in e.body["message"], e.body
    finally:
        st.faults({"refuse_kms": False})
    return "KMSEncryption action, GenerateDataKey, challenge (passed, logged), encrypted shell I/O, refuse_kms"


async def check_throughput(st, ports):
    c = Client(st)
    mux = Smux(c)
    await c.start(INSTANCE, "AWS-StartPortForwardingSession", {"portNumber": [str(ports["source"])]})
    await asyncio.wait_for(c.handshake_complete.wait(), 10)
    sid = await mux.open()
    t0, cpu0 = time.monotonic(), st.cpu_seconds()
    await c.wait_for(lambda: mux.fin.get(sid), timeout=300, what="download")
    dt, cpu = time.monotonic() - t0, st.cpu_seconds() - cpu0
    got = bytes(mux.data[sid])
    assert hashlib.sha256(got).hexdigest() == ports["source_sha"]
    await c.close()
    st.ssm("TerminateSession", {"SessionId": c.session_id})
    # the same download through the stand-in with a client that only counts
    # (no smux parsing, no storage): closer to what the stand-in alone can do
    c2 = Client(st)
    c2.received_bytes = 0

    async def counting_process(m):
        if m["ptype"] == 5:
            await c2.on_handshake(json.loads(m["payload"]))
        elif m["ptype"] == 7:
            c2.handshake_complete.set()
        else:
            c2.received_bytes += len(m["payload"])
    c2.process = counting_process
    await c2.start(INSTANCE, "AWS-StartSSHSession", {"portNumber": [str(ports["source"])]})
    t1, cpu1 = time.monotonic(), st.cpu_seconds()
    await asyncio.wait_for(c2.closed.wait(), 300)
    dt2, cpu2 = time.monotonic() - t1, st.cpu_seconds() - cpu1
    await c2.close()
    mb = ports["source_bytes"] / 1e6
    return (f"smux download {mb:.0f} MB in {dt:.2f}s = {mb / dt:.1f} MB/s wall, stand-in CPU {cpu:.2f}s "
            f"= {mb / max(cpu, 0.01):.1f} MB per CPU-second; basic download {mb / dt2:.1f} MB/s wall, "
            f"{mb / max(cpu2, 0.01):.1f} MB per stand-in CPU-second (client and stand-in in Python, same machine)")


async def check_data_delay(st, ports):
    """data_delay_ms delays every frame each way: an echo's round trip takes
    at least twice the delay (input there, its output back), and the
    handshake and a download still arrive intact and in order."""
    st.faults({"data_delay_ms": 50})
    try:
        c = Client(st)
        await c.start(INSTANCE)
        await c.wait_for(lambda: "$" in c.text() or "#" in c.text(), what="the prompt")
        t0 = time.monotonic()
        await c.send(1, b"echo dela''yed\r")
        await c.wait_for(lambda: "delayed\r\n" in c.text(), what="the echo")
        round_trip = time.monotonic() - t0
        assert round_trip >= 0.1, round_trip
        await c.send(1, b"exit\r")
        await asyncio.wait_for(c.closed.wait(), 10)
        await c.close()
        d = Client(st, client_version="1.2.707.0")
        mux = Smux(d)
        await d.start(INSTANCE, "AWS-StartPortForwardingSession", {"portNumber": [str(ports["source_small"])]})
        await asyncio.wait_for(d.handshake_complete.wait(), 10)
        sid = await mux.open()
        await d.wait_for(lambda: mux.fin.get(sid), timeout=60, what="download")
        assert hashlib.sha256(bytes(mux.data[sid])).hexdigest() == ports["source_small_sha"]
        await d.close()
    finally:
        st.faults({"data_delay_ms": 0})
    return f"50 ms each way: echo round trip {round_trip * 1000:.0f} ms; 300 kB smux download intact"


CHECKS = [
    ("control_plane", check_control_plane),
    ("shell", check_shell),
    ("noninteractive", check_noninteractive),
    ("interactive_command", check_interactive_command),
    ("smux", check_smux),
    ("basic_port", check_basic_port),
    ("old_agent_basic", check_old_agent_basic),
    ("ssh_session", check_ssh_session),
    ("resume", check_resume),
    ("resume_download", check_resume_download),
    ("corrupt_and_withheld", check_corrupt_and_withheld),
    ("loss_and_publication", check_loss_and_publication),
    ("kms", check_kms),
    ("data_delay", check_data_delay),
    ("throughput", check_throughput),
]


async def amain(args):
    echo, echo_port = await start_echo()
    mb = args.mb
    source, source_port, source_sha = await start_source(int(mb * 1_000_000))
    small, small_port, small_sha = await start_source(300_000, b"small")
    ports = {"echo": echo_port, "source": source_port, "source_sha": source_sha,
             "source_bytes": int(mb * 1_000_000), "source_small": small_port, "source_small_sha": small_sha}
    config = {"caller": "selftest", "instances": {
        INSTANCE: {"address": "127.0.0.1"},
        KMS_INSTANCE: {"address": "127.0.0.1", "kms_key_id": "alias/session-key"},
        OFFLINE: {"address": "127.0.0.1", "ping": "ConnectionLost"},
        OLD_AGENT: {"address": "127.0.0.1", "agent_version": "3.0.196.0"},
    }}
    st = Standin(config)
    passed = failed = 0
    try:
        for name, fn in CHECKS:
            if args.k and args.k not in name:
                continue
            t0 = time.monotonic()
            try:
                detail = await asyncio.wait_for(fn(st, ports), 600)
                passed += 1
                print(f"ok   {name} ({time.monotonic() - t0:.1f}s): {detail}", flush=True)
            except Exception:  # noqa: BLE001
                failed += 1
                print(f"FAIL {name} ({time.monotonic() - t0:.1f}s)", flush=True)
                traceback.print_exc()
                st.faults({"reset": True})
    finally:
        if args.keep_log:
            with open(st.log) as f, open(args.keep_log, "w") as out:
                out.write(f.read())
        st.stop()
        echo.close()
        source.close()
        small.close()
    print(f"{passed} passed, {failed} failed")
    return failed == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", help="run only checks whose name contains this")
    ap.add_argument("--mb", type=float, default=20, help="megabytes for the download checks")
    ap.add_argument("--keep-log", help="copy the stand-in's recorder log here")
    args = ap.parse_args()
    sys.exit(0 if asyncio.run(amain(args)) else 1)


if __name__ == "__main__":
    main()
