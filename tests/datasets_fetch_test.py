#!/usr/bin/python3
"""Loopback HTTP server for tests/datasets_fetch_test.cc (standard library only).

Serves the files under --root (laid out HOST/PATH, as `proctor datasets fetch
--base-url` asks for them) on 127.0.0.1, port 0, and writes the port to
--port-file. Fault injection:
  --truncate PATH  announce the full Content-Length, send half, close.
  --flaky PATH     answer 503 to the first request, then serve normally.
"""
import argparse
import http.server
import os
import sys
import threading

parser = argparse.ArgumentParser()
parser.add_argument("--root", required=True)
parser.add_argument("--port-file", required=True)
parser.add_argument("--truncate", action="append", default=[])
parser.add_argument("--flaky", action="append", default=[])
args = parser.parse_args()
root = os.path.realpath(args.root)
flaky_seen = set()
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        sys.stderr.write("server: " + (fmt % a) + "\n")

    def do_GET(self):
        rel = self.path.split("?", 1)[0].lstrip("/")
        path = os.path.realpath(os.path.join(root, rel))
        with lock:
            first = rel in args.flaky and rel not in flaky_seen
            flaky_seen.add(rel)
        if first:
            self.send_error(503, "flaky on purpose")
            return
        if not path.startswith(root + os.sep) or not os.path.isfile(path):
            self.send_error(404)
            return
        data = open(path, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if rel in args.truncate:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
tmp = args.port_file + ".tmp"
with open(tmp, "w") as f:
    f.write(str(server.server_address[1]))
os.rename(tmp, args.port_file)
server.serve_forever()
