"""A stand-in for an MLOpsPython scoring endpoint on Azure ML (ACI/AKS), for smoke-test tests.

Usage: aml_like_endpoint.py PORT KEY MODE. Answers POST /score with key auth (Authorization:
Bearer KEY → else 401), like the reference's score.py: {"data": [[10 values], ...]} →
{"result": [...]}. MODE "ok" answers correctly, "wrong" answers {"result": [1.0]} (one value for
two rows), "starting" answers 503 for the first three requests and then correctly.
Prints "listening" on stdout once the socket is bound.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, key, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
calls = {"n": 0}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        calls["n"] += 1
        if self.headers.get("Authorization") != f"Bearer {key}":
            return self.answer(401, {"message": "invalid key"})
        if not self.headers.get("traceparent", "").startswith("00-"):
            return self.answer(400, {"message": "missing traceparent"})
        if mode == "starting" and calls["n"] <= 3:
            return self.answer(503, {"message": "starting"})
        rows = body["data"]
        result = [float(sum(r)) for r in rows]
        if mode == "wrong":
            result = result[:1]
        self.answer(200, {"result": result})


server = HTTPServer(("127.0.0.1", port), Handler)
print("listening", flush=True)
server.serve_forever()
