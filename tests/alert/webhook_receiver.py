#!/usr/bin/env python3
"""A webhook receiver for the alert test: accepts JSON POSTs carrying the expected token and an
idempotency key, and appends each new key with its body to a file, one JSON line each (flushed
and synced before the answer). A key it has stored already (read back from the file at start,
so a restart remembers) is answered 200 and not stored again: the receiver-side dedupe that
at-least-once delivery expects.

    webhook_receiver.py PORT OUT_FILE TOKEN [DELAY_S]
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, OUT, TOKEN = int(sys.argv[1]), sys.argv[2], sys.argv[3]
DELAY = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
seen = set()
if os.path.exists(OUT):
    with open(OUT) as f:
        for line in f:
            try:
                seen.add(json.loads(line)["key"])
            except (ValueError, KeyError):
                pass  # a line cut by a kill: its key is not stored, the sender sends it again
out = open(OUT, "a")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.answer(401)
        key = self.headers.get("Idempotency-Key")
        if not key or self.headers.get("Content-Type") != "application/json":
            return self.answer(400)
        doc = json.loads(body)
        if DELAY:
            time.sleep(DELAY)  # a slow receiver: a kill lands mid-stream
        if key not in seen:
            out.write(json.dumps({"key": key, "doc": doc}) + "\n")
            out.flush()
            os.fsync(out.fileno())
            seen.add(key)
        self.answer(200)

    def log_message(self, *args):
        pass


ThreadingHTTPServer.allow_reuse_address = True
srv = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print("listening on %d" % PORT, flush=True)
srv.serve_forever()
