#!/usr/bin/env python3
"""An HTTP proxy in front of the sandbox's AWS stand-in that injects the
faults AWS clients meet, per operation, for berth's fault tests.

Usage:

    fault_proxy.py --upstream http://127.0.0.1:PORT --rules JSON --log FILE

It listens on 127.0.0.1 (a free port), prints ``{"endpoint": "http://…"}``
as one line on stdout, and serves until its stdin reaches EOF. berth (or
any SDK) pointed at that endpoint reaches the stand-in through it.

Each rule is ``{"operation": NAME or "*", "fault": KIND, "times": N,
"seconds": S}``; the first rule that matches a request and has times left
(``times`` absent: always) decides what happens to it:

* ``throttle``: the service's throttling error, as AWS sends it: for EC2
  (query protocol) HTTP 503 with ``RequestLimitExceeded``; for JSON
  services (ECS, SSM, EC2 Instance Connect) HTTP 400 ``ThrottlingException``;
* ``internal``: HTTP 500 (EC2 ``InternalError``, ECS ``ServerException``);
* ``unavailable``: HTTP 503 ``ServiceUnavailable``;
* ``slow``: waits ``seconds`` (default 30) before forwarding, as a service
  that does not answer in time;
* ``reset``: closes the connection with a TCP reset before answering;
* ``truncate``: forwards, then sends the response's headers and half its
  body, and closes the connection;
* ``expired``: the error of expired credentials (EC2 ``RequestExpired``,
  JSON services ``ExpiredTokenException``).

Every request is logged to FILE as one JSON line: the operation, and the
fault injected (``null`` when forwarded untouched). Everything stays on
127.0.0.1.
"""

import argparse
import http.client
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EC2_ERROR = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
             '<Message>{message}</Message></Error></Errors>'
             '<RequestID>5f8d7e2a-fault-proxy</RequestID></Response>')

# kind -> (EC2 status, EC2 code, JSON status, JSON code, message)
ERRORS = {
    "throttle": (503, "RequestLimitExceeded", 400, "ThrottlingException", "Rate exceeded"),
    "internal": (500, "InternalError", 500, "ServerException",
                 "An internal error has occurred"),
    "unavailable": (503, "Unavailable", 503, "ServiceUnavailableException",
                    "The service is unavailable. Please try again shortly."),
    "expired": (400, "RequestExpired", 400, "ExpiredTokenException",
                "The security token included in the request is expired"),
}


class Rules:
    def __init__(self, rules, log_path):
        self.rules = [dict(r) for r in rules]
        self.lock = threading.Lock()
        self.log_path = log_path

    def pick(self, operation):
        with self.lock:
            for rule in self.rules:
                if rule.get("operation", "*") not in ("*", operation):
                    continue
                times = rule.get("times")
                if times is not None:
                    if times <= 0:
                        continue
                    rule["times"] = times - 1
                return rule
        return None

    def log(self, operation, fault):
        with self.lock, open(self.log_path, "a") as f:
            f.write(json.dumps({"operation": operation, "fault": fault,
                                "at": round(time.time(), 3)}) + "\n")


def operation_of(headers, body):
    """`DescribeInstances` from EC2's form body, `ListClusters` from a
    JSON service's X-Amz-Target."""
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1], "json"
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    return (form.get("Action") or ["?"])[0], "query"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        operation, protocol = operation_of(self.headers, body)
        rule = self.server.rules.pick(operation)
        fault = rule["fault"] if rule else None
        self.server.rules.log(operation, fault)
        if fault in ERRORS:
            return self.send_error_of(fault, protocol)
        if fault == "reset":
            # SO_LINGER 0: close() sends RST, as a dropped connection does.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return None
        if fault == "slow":
            time.sleep(float(rule.get("seconds", 30)))
        status, headers, payload = self.forward(body)
        if fault == "truncate":
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        return None

    def forward(self, body):
        up = self.server.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        headers["Host"] = up.netloc
        conn.request("POST", self.path, body=body, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        conn.close()
        return response.status, response.getheaders(), payload

    def send_error_of(self, fault, protocol):
        ec2_status, ec2_code, json_status, json_code, message = ERRORS[fault]
        if protocol == "query":
            status, ctype = ec2_status, "text/xml;charset=UTF-8"
            payload = EC2_ERROR.format(code=ec2_code, message=message).encode()
        else:
            status, ctype = json_status, "application/x-amz-json-1.1"
            payload = json.dumps({"__type": json_code, "message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("x-amzn-RequestId", "5f8d7e2a-fault-proxy")
        if protocol == "json":
            self.send_header("x-amzn-ErrorType", json_code)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (a timeout, berth exiting) closes its end.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--rules", required=True, help="a JSON list of rules")
    ap.add_argument("--log", required=True)
    args = ap.parse_args()
    upstream = urllib.parse.urlparse(args.upstream)
    if upstream.hostname not in ("127.0.0.1", "localhost"):
        sys.exit("fault_proxy.py: the upstream must be on 127.0.0.1")
    server = Server(("127.0.0.1", 0), Handler)
    server.upstream = upstream
    server.rules = Rules(json.loads(args.rules), args.log)
    open(args.log, "a").close()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address
    sys.stdout.write(json.dumps({"endpoint": f"http://{host}:{port}"}) + "\n")
    sys.stdout.flush()
    try:
        while sys.stdin.read(65536):
            pass
    except (OSError, ValueError, KeyboardInterrupt):
        pass
    server.shutdown()


if __name__ == "__main__":
    main()
