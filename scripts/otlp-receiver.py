#!/usr/bin/env python3
"""A minimal OTLP/HTTP traces receiver, for tests and for checking an installation.

Decodes each POST to /v1/traces with opentelemetry-proto's own generated classes
(`pip install opentelemetry-proto`): a body that is not a valid protobuf
ExportTraceServiceRequest gets a 400, as from a real collector. Every span is written as
one JSON line (protobuf's JSON mapping: ids in base64, enums as names) to --out, with
"post": the number of the POST that carried it (so batching shows).

With --stall-file PATH, a POST that arrives while PATH exists is held (not answered) until
the file is gone, at most 60 s, then dropped unanswered and its spans not written: a
collector that hangs, for testing that exports stay off the request path.

    scripts/otlp-receiver.py --port 4318 --out spans.jsonl
"""
import argparse
import itertools
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--stall-file")
    args = parser.parse_args()
    out = open(args.out, "a", buffering=1, encoding="utf-8")
    posts, lock = itertools.count(1), threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if args.stall_file and os.path.exists(args.stall_file):
                deadline = time.monotonic() + 60
                while os.path.exists(args.stall_file) and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.close_connection = True
                return
            with lock:
                post = next(posts)
            if self.path != "/v1/traces":
                return self.answer(404, b"")
            if self.headers.get("Content-Type") != "application/x-protobuf":
                return self.answer(415, b"")
            request = trace_service_pb2.ExportTraceServiceRequest()
            try:
                request.ParseFromString(body)
            except Exception as error:  # a real collector refuses it too
                print(f"otlp-receiver: undecodable body: {error}", file=sys.stderr)
                return self.answer(400, b"")
            lines = []
            for resource_spans in request.resource_spans:
                resource = json_format.MessageToDict(resource_spans.resource)
                for scope_spans in resource_spans.scope_spans:
                    scope = json_format.MessageToDict(scope_spans.scope)
                    for span in scope_spans.spans:
                        record = json_format.MessageToDict(span)
                        record["resource"] = resource
                        record["scope"] = scope
                        record["post"] = post
                        record["headers"] = {k.lower(): v for k, v in self.headers.items()
                                             if k.lower() not in ("content-length",)}
                        lines.append(json.dumps(record, sort_keys=True) + "\n")
            with lock:
                out.write("".join(lines))
            self.answer(200, trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

        def answer(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"otlp-receiver: listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
