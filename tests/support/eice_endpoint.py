"""A stand-in for the data plane of EC2 Instance Connect Endpoints: the
websocket ``wss://{DnsName}/openTunnel?...`` that ``aws ec2-instance-connect
open-tunnel`` (and berth) open to reach PRIVATE-IP:PORT in the endpoint's
VPC, served here as ``ws://127.0.0.1:PORT/openTunnel`` (berth is pointed at
it with BERTH_EICE_URL).

What it checks, in order, as the service does for such a request:

* an HTTP/1.1 websocket upgrade (RFC 6455) of ``GET /openTunnel``;
* SigV4 query authentication (refused with 403 and a reason otherwise):
  ``X-Amz-Algorithm`` AWS4-HMAC-SHA256; ``X-Amz-Credential`` scoped to
  ``DATE/REGION/ec2-instance-connect/aws4_request`` with DATE that of
  ``X-Amz-Date``; ``X-Amz-Expires`` at most 60 seconds and not elapsed (nor
  the signing time more than 5 minutes ahead); ``host`` among
  ``X-Amz-SignedHeaders``; and ``X-Amz-Signature`` recomputed from the
  request as received, with the secret key ``testing`` (moto's fixture
  credentials) for any access key id. ``X-Amz-Security-Token``, when
  present, is signed like every other parameter. The payload hash is that
  of the empty body, as the AWS CLI's signer makes it;
* ``instanceConnectEndpointId`` names an endpoint that exists (in the
  region's EC2 backend of aws_emulation.py) and takes tunnels, else 404;
  ``remotePort`` is 22 or 3389 (the only ports an endpoint tunnels to),
  ``maxTunnelDuration`` a number of seconds from 1 to 3600 (default 3600),
  and ``privateIpAddress`` an IPv4 or IPv6 address inside one of the
  endpoint's VPC's CIDR blocks, else 400.

Then it connects to the target, from the endpoint's own address (its
network interface's) unless the endpoint preserves the client's address,
and relays bytes both ways until ``maxTunnelDuration`` is up (then it
closes the tunnel normally, as the service does): binary frames from the client to the target,
what the target sends back in binary frames. A close from either side ends
the tunnel: the client's Close is answered and the target connection
closed; the target's end of stream becomes a normal Close; a target it
cannot connect to, a text frame or an unmasked frame become a Close with an
error code and a reason. It only ever connects to 127.0.0.0/8.

Each tunnel (and each refusal) is a JSON line in the log file: ``open`` when
the tunnel is up, ``closed`` with the bytes carried each way when it ends,
``refused`` with the HTTP status and reason.
"""

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import socket
import struct
import threading
import time
from urllib.parse import quote, unquote

SERVICE = "ec2-instance-connect"
ALGORITHM = "AWS4-HMAC-SHA256"
FIXTURE_SECRET = "testing"
MAX_EXPIRES = 60
CLOCK_SKEW = 300
MAX_TUNNEL_DURATION = 3600
ENDPOINT_PORTS = (22, 3389)
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_HEADER_BYTES = 16 * 1024
MAX_FRAME_BYTES = 16 * 1024 * 1024
READ_BYTES = 32 * 1024

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NORMAL, CLOSE_PROTOCOL, CLOSE_UNSUPPORTED, CLOSE_INTERNAL = 1000, 1002, 1003, 1011


class Refused(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


# ------------------------------------------------------------ SigV4 (query)

def _encode(s):
    return quote(s, safe="-_.~")


def _signing_key(secret, date, region, service):
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def verify_presigned(method, path, raw_query, headers, region, service, now, secret_for,
                     max_expires=MAX_EXPIRES):
    """Checks SigV4 query authentication of a request as received; returns
    its query parameters (decoded) or raises Refused(403, reason).
    `headers` maps lower-case names to values; `secret_for(access_key_id)`
    gives the secret key (or None for an unknown one)."""
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    query = {}
    for name, value in pairs:
        if name.startswith("X-Amz-") and name in query:
            raise Refused(403, f"{name} is given twice")
        query.setdefault(name, value)

    def need(name):
        if name not in query:
            raise Refused(403, f"the request is not signed: {name} is missing")
        return query[name]

    if need("X-Amz-Algorithm") != ALGORITHM:
        raise Refused(403, f"unsupported X-Amz-Algorithm {query['X-Amz-Algorithm']!r}")
    scope = need("X-Amz-Credential").split("/")
    if len(scope) != 5:
        raise Refused(403, "X-Amz-Credential is not KEY/DATE/REGION/SERVICE/aws4_request")
    access_key, date, scope_region, scope_service, terminator = scope
    if scope_region != region:
        raise Refused(403, f"the credential is scoped to region {scope_region!r}, not {region!r}")
    if scope_service != service:
        raise Refused(403, f"the credential is scoped to service {scope_service!r}, not {service!r}")
    if terminator != "aws4_request":
        raise Refused(403, "the credential scope does not end in aws4_request")
    amz_date = need("X-Amz-Date")
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        raise Refused(403, f"X-Amz-Date {amz_date!r} is not YYYYMMDDTHHMMSSZ") from None
    if amz_date[:8] != date:
        raise Refused(403, "the credential's date is not the date of X-Amz-Date")
    try:
        expires = int(need("X-Amz-Expires"))
    except ValueError:
        raise Refused(403, "X-Amz-Expires is not a number") from None
    if not 1 <= expires <= max_expires:
        raise Refused(403, f"X-Amz-Expires must be 1 to {max_expires} seconds, not {expires}")
    age = (now - signed_at).total_seconds()
    if age < -CLOCK_SKEW:
        raise Refused(403, f"Signature not yet current: {amz_date} is after {now:%Y%m%dT%H%M%SZ}")
    if age > expires:
        raise Refused(403, f"Signature expired: {amz_date} + {expires}s is before "
                           f"{now:%Y%m%dT%H%M%SZ}")
    signed_headers = need("X-Amz-SignedHeaders").split(";")
    if "host" not in signed_headers:
        raise Refused(403, "the host header is not signed")
    if signed_headers != sorted(signed_headers):
        raise Refused(403, "X-Amz-SignedHeaders is not sorted")
    for name in signed_headers:
        if name not in headers:
            raise Refused(403, f"signed header {name!r} is not in the request")
    secret = secret_for(access_key)
    if secret is None:
        raise Refused(403, f"unknown access key {access_key}")

    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(
        (k, v) for k, v in pairs if k != "X-Amz-Signature"))
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].split())}\n"
                                for name in signed_headers)
    canonical_request = "\n".join([
        method, quote(unquote(path), safe="/-_.~"), canonical_query, canonical_headers,
        ";".join(signed_headers), EMPTY_SHA256])
    string_to_sign = "\n".join([
        ALGORITHM, amz_date, f"{date}/{region}/{service}/aws4_request",
        hashlib.sha256(canonical_request.encode()).hexdigest()])
    expected = hmac.new(_signing_key(secret, date, region, service), string_to_sign.encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, need("X-Amz-Signature")):
        raise Refused(403, "the request signature does not match the one computed from the "
                           "request and the secret key")
    return query


def check_known_values():
    """The verifier against the SigV4 test suite's presigned GETs (the
    `aws-signing-test-suite/v4` query-signed-request.txt of get-vanilla and
    get-vanilla-with-session-token, service `service`, us-east-1, signed
    2015-08-30T12:36:00Z for 3600 s): both verify at their signing time,
    and a changed signature does not. The stand-in does not start if its
    own check is wrong."""
    now = datetime.datetime(2015, 8, 30, 12, 36, 0, tzinfo=datetime.timezone.utc)
    suite = {
        "get-vanilla": (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1"
            "%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host"
            "&X-Amz-Expires=3600&X-Amz-Signature="
            "e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d"),
        "get-vanilla-with-session-token": (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1"
            "%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host"
            "&X-Amz-Expires=3600&X-Amz-Security-Token="
            "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267&X-Amz-Signature="
            "7ff2b50b376cb4d151970630573d6291dc128cc5c2a12ffb237f73cc53f67b6c"),
    }
    def verify(query):
        return verify_presigned("GET", "/", query, {"host": "example.amazonaws.com"},
                                "us-east-1", "service", now,
                                lambda _: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                max_expires=3600)

    for name, query in suite.items():
        verify(query)
        try:
            verify(query[:-1] + ("0" if query[-1] != "0" else "1"))
        except Refused:
            pass
        else:
            raise AssertionError(f"{name}: a changed signature verified")


# ------------------------------------------------------------ websocket

def _recv_exact(sock, buffer, n):
    while len(buffer) < n:
        chunk = sock.recv(max(READ_BYTES, n - len(buffer)))
        if not chunk:
            raise EOFError
        buffer += chunk
    data, rest = bytes(buffer[:n]), buffer[n:]
    buffer[:] = rest
    return data


def read_frame(sock, buffer):
    """(fin, opcode, payload, masked) of the next frame."""
    b0, b1 = _recv_exact(sock, buffer, 2)
    fin, opcode, masked, length = b0 & 0x80, b0 & 0x0F, b1 & 0x80, b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack(">H", _recv_exact(sock, buffer, 2))
    elif length == 127:
        (length,) = struct.unpack(">Q", _recv_exact(sock, buffer, 8))
    if length > MAX_FRAME_BYTES:
        raise ValueError(f"a frame of {length} bytes")
    mask = _recv_exact(sock, buffer, 4) if masked else None
    payload = _recv_exact(sock, buffer, length)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bool(fin), opcode, payload, bool(masked)


def _is_websocket_key(key):
    """A Sec-WebSocket-Key is 16 random bytes in base64."""
    try:
        return len(base64.b64decode(key.encode(), validate=True)) == 16
    except ValueError:
        return False


def frame(opcode, payload=b""):
    """A final, unmasked frame, as a server sends them."""
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack(">BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
    return head + payload


def close_frame(code, reason=""):
    return frame(OP_CLOSE, struct.pack(">H", code) + reason.encode()[:120])


# ------------------------------------------------------------ the server

class TunnelEndpointServer:
    """Serves /openTunnel on 127.0.0.1:<free port> from threads of its own.
    `backend()` gives the EC2 backend whose endpoints tunnels name."""

    def __init__(self, backend, region, log_path):
        self.backend = backend
        self.region = region
        self.log_path = log_path
        self.listener = None
        self.live = set()
        self.lock = threading.Lock()
        self.stopping = False

    def start(self):
        check_known_values()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        threading.Thread(target=self._accept, name="eice-accept", daemon=True).start()
        host, port = self.listener.getsockname()
        self.url = f"ws://{host}:{port}"
        return self.url

    def stop(self):
        self.stopping = True
        if self.listener is not None:
            try:
                self.listener.close()
            except OSError:
                pass
        with self.lock:
            live = list(self.live)
        for sock in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _log(self, **entry):
        entry["time"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self.lock:
            with open(self.log_path, "a") as f:
                f.write(line)

    def _track(self, sock, add):
        with self.lock:
            (self.live.add if add else self.live.discard)(sock)

    def _accept(self):
        while not self.stopping:
            try:
                client, peer = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client, peer), name="eice-tunnel",
                             daemon=True).start()

    def _serve(self, client, peer):
        self._track(client, True)
        try:
            self._handshake_and_relay(client, peer)
        except (OSError, EOFError, ValueError):
            pass
        except Exception as e:  # noqa: BLE001 - a bug of the stand-in: say so, loudly
            self._log(event="error", status=500, reason=f"stand-in failure: {e!r}")
            try:
                self._respond(client, 500, f"the sandbox's endpoint stand-in failed: {e!r}")
            except OSError:
                pass
            raise
        finally:
            self._track(client, False)
            try:
                client.close()
            except OSError:
                pass

    def _read_request(self, client):
        client.settimeout(10)
        data = bytearray()
        while b"\r\n\r\n" not in data:
            if len(data) > MAX_HEADER_BYTES:
                raise Refused(431, "request headers too large")
            chunk = client.recv(4096)
            if not chunk:
                raise EOFError
            data += chunk
        head, _, rest = bytes(data).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise Refused(400, "not an HTTP/1.1 request")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise Refused(400, f"bad header line {line!r}")
            name = name.strip().lower()
            headers[name] = f"{headers[name]},{value.strip()}" if name in headers else value.strip()
        client.settimeout(None)
        return parts[0], parts[1], headers, bytearray(rest)

    def _respond(self, client, status, reason):
        words = {400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                 405: "Method Not Allowed", 426: "Upgrade Required", 500: "Internal Server Error",
                 431: "Request Header Fields Too Large"}.get(status, "Error")
        body = (reason + "\n").encode()
        client.sendall((f"HTTP/1.1 {status} {words}\r\nContent-Type: text/plain\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body)

    def _handshake_and_relay(self, client, peer):
        fields = {}
        try:
            method, target, headers, pending = self._read_request(client)
            path, _, raw_query = target.partition("?")
            if path != "/openTunnel":
                raise Refused(404, f"no such path {path}")
            if method != "GET":
                raise Refused(405, "openTunnel takes GET")
            key = headers.get("sec-websocket-key", "")
            if ("websocket" not in headers.get("upgrade", "").lower()
                    or "upgrade" not in headers.get("connection", "").lower()
                    or headers.get("sec-websocket-version") != "13"
                    or not _is_websocket_key(key)):
                raise Refused(426, "openTunnel is a websocket (RFC 6455, version 13)")
            query = verify_presigned(
                method, path, raw_query, headers, self.region, SERVICE,
                datetime.datetime.now(datetime.timezone.utc), lambda _key: FIXTURE_SECRET)
            fields["endpoint"] = query.get("instanceConnectEndpointId")
            endpoint, address, port, duration = self._tunnel_target(query)
            fields["target"] = (f"[{address}]:{port}" if ":" in address
                                else f"{address}:{port}")
            fields["max_tunnel_duration"] = duration
        except Refused as refusal:
            self._log(event="refused", status=refusal.status, reason=refusal.reason, **fields)
            self._respond(client, refusal.status, refusal.reason)
            return

        # The endpoint connects from its network interface's address, or
        # from the client's when it preserves that.
        source = peer[0] if endpoint.get("PreserveClientIp") else endpoint["_address"]
        upstream, failure = None, None
        try:
            upstream = socket.create_connection((address, port), timeout=5,
                                                source_address=(source, 0))
            upstream.settimeout(None)
        except OSError as e:
            failure = f"cannot connect to {address}:{port}: {e.strerror or e}"
        accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()
        client.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\n"
                        f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        if upstream is None:
            client.sendall(close_frame(CLOSE_INTERNAL, failure))
            self._log(event="closed", source=source, reason=failure, bytes_to_target=0,
                      bytes_to_client=0, closed_by="endpoint", **fields)
            return
        self._track(upstream, True)
        self._log(event="open", source=source, **fields)
        try:
            self._relay(client, pending, upstream, duration, fields, source)
        finally:
            self._track(upstream, False)
            upstream.close()

    def _tunnel_target(self, query):
        from aws_emulation import USABLE_STATES, instance_connect_endpoint, vpc_networks
        endpoint_id = query.get("instanceConnectEndpointId")
        if not endpoint_id:
            raise Refused(400, "instanceConnectEndpointId is missing")
        backend = self.backend()
        endpoint = instance_connect_endpoint(backend, endpoint_id)
        if endpoint is None:
            raise Refused(404, f"InstanceConnectEndpoint {endpoint_id} does not exist")
        if endpoint["State"] not in USABLE_STATES:
            raise Refused(404, f"InstanceConnectEndpoint {endpoint_id} is {endpoint['State']}")
        try:
            port = int(query.get("remotePort", ""))
            if not 1 <= port <= 65535:
                raise ValueError
        except ValueError:
            raise Refused(400, "remotePort must be a port number") from None
        if port not in ENDPOINT_PORTS:
            raise Refused(400, f"remotePort {port} is not supported: an EC2 Instance Connect "
                               f"Endpoint tunnels to ports 22 and 3389 only")
        try:
            address = ipaddress.ip_address(query.get("privateIpAddress", ""))
        except ValueError:
            raise Refused(400, "privateIpAddress must be an IPv4 or IPv6 address") from None
        networks = vpc_networks(backend, endpoint["VpcId"])
        if not any(address.version == net.version and address in net for net in networks):
            raise Refused(400, f"{address} is not in {endpoint['VpcId']} "
                               f"({', '.join(map(str, networks))})")
        if address not in LOOPBACK:
            raise Refused(400, f"the sandbox connects only to {LOOPBACK}, not {address}")
        try:
            duration = int(query.get("maxTunnelDuration", MAX_TUNNEL_DURATION))
            if not 1 <= duration <= MAX_TUNNEL_DURATION:
                raise ValueError
        except ValueError:
            raise Refused(400, f"maxTunnelDuration must be 1 to {MAX_TUNNEL_DURATION}") from None
        return endpoint, str(address), port, duration

    def _relay(self, client, pending, upstream, duration, fields, source):
        send_lock = threading.Lock()
        state = {"to_target": 0, "to_client": 0, "closed_by": None, "reason": "",
                 "close_sent": False}

        def send(data):
            """A frame, unless our Close went out: nothing follows it."""
            with send_lock:
                if state["close_sent"]:
                    return False
                client.sendall(data)
                return True

        def send_close(code, reason=""):
            with send_lock:
                if state["close_sent"]:
                    return
                state["close_sent"] = True
                try:
                    client.sendall(close_frame(code, reason))
                    # The client answers a Close at once; do not wait for
                    # one that never comes for ever.
                    client.settimeout(10)
                except OSError:
                    pass

        def end(by, code=CLOSE_NORMAL, reason=""):
            if state["closed_by"] is None:
                state["closed_by"], state["reason"] = by, reason
            send_close(code, reason)
            try:
                upstream.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def from_target():
            try:
                while True:
                    data = upstream.recv(READ_BYTES)
                    if not data:
                        break
                    if not send(frame(OP_BINARY, data)):
                        break
                    state["to_client"] += len(data)
                end("target")
            except OSError as e:
                end("target", CLOSE_INTERNAL, f"the connection to {fields['target']} broke: {e}")

        timer = threading.Timer(duration, lambda: end("endpoint", CLOSE_NORMAL,
                                                      "the tunnel reached its maxTunnelDuration"))
        timer.daemon = True
        timer.start()
        reader = threading.Thread(target=from_target, name="eice-target", daemon=True)
        reader.start()
        message = None  # the opcode of the data message being continued
        try:
            while True:
                fin, opcode, payload, masked = read_frame(client, pending)
                if not masked:
                    end("endpoint", CLOSE_PROTOCOL, "client frames must be masked")
                    break
                if opcode == OP_CONTINUATION and message is None:
                    end("endpoint", CLOSE_PROTOCOL, "a continuation of nothing")
                    break
                if opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
                    message = opcode if opcode != OP_CONTINUATION else message
                    if message == OP_TEXT:
                        end("endpoint", CLOSE_UNSUPPORTED, "the tunnel carries binary frames only")
                        break
                    upstream.sendall(payload)
                    state["to_target"] += len(payload)
                    message = None if fin else message
                elif opcode == OP_PING:
                    send(frame(OP_PONG, payload))
                elif opcode == OP_CLOSE:
                    code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else CLOSE_NORMAL
                    end("client", CLOSE_NORMAL if code == CLOSE_NORMAL else code)
                    break
                elif opcode != OP_PONG:
                    end("endpoint", CLOSE_PROTOCOL, f"unknown opcode {opcode}")
                    break
        except (EOFError, OSError, ValueError):
            end("client")
        finally:
            timer.cancel()
            reader.join(5)
            self._log(event="closed", source=source, bytes_to_target=state["to_target"],
                      bytes_to_client=state["to_client"], closed_by=state["closed_by"],
                      reason=state["reason"], **fields)
