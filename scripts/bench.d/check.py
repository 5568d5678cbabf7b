#!/usr/bin/env python3
"""Checks one target's answer before it is benchmarked, so a misrouted or
failing target cannot look fast.

    check.py json|stream STATUS HEADERS BODY CANNED_DIR [loose]

STATUS is the HTTP status, HEADERS the file of curl -D, BODY the body, and
CANNED_DIR the mock's prefix (canned.json, canned.sse). A JSON answer must be
a chat.completion with usage and the canned content; a stream must be
byte-valid SSE (`data: ...` events separated by a blank line) of
chat.completion.chunk objects carrying the canned content and a usage chunk,
ending with `data: [DONE]`, served as text/event-stream. With `loose` (a
peer gateway behind another provider) the content itself is not compared.
Prints one line; exits 1 with the reason on failure.
"""
import json
import os
import sys


def fail(msg):
    print(f"FAILED: {msg}")
    sys.exit(1)


def content_type(headers_file):
    ctype = ""
    with open(headers_file, "rb") as f:
        for raw in f.read().decode("latin-1").split("\r\n"):
            name, _, value = raw.partition(":")
            if name.strip().lower() == "content-type":
                ctype = value.strip()  # the last response's (after any 100-continue)
    return ctype


def canned_content(canned_dir):
    with open(os.path.join(canned_dir, "canned.json")) as f:
        return json.load(f)["choices"][0]["message"]["content"]


def check_json(body, expected):
    try:
        obj = json.loads(body)
    except ValueError as e:
        fail(f"body is not JSON ({e}): {body[:200]!r}")
    if not isinstance(obj, dict) or obj.get("object") != "chat.completion":
        fail(f"not a chat.completion: {body[:200]!r}")
    if not isinstance(obj.get("usage"), dict):
        fail("no usage in the chat.completion")
    content = obj["choices"][0]["message"]["content"]
    if expected is not None and content != expected:
        fail(f"unexpected content {content!r}")
    return f"chat.completion, {len(body)} bytes"


def check_stream(body, expected):
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        fail("stream is not UTF-8")
    if expected is None:  # loose: a peer may frame with CRLF, which SSE allows
        text = text.replace("\r\n", "\n")
    if "\r" in text:
        fail("stream contains CR (expected LF-only framing, as the mock sends)")
    if not text.endswith("\n\n"):
        fail(f"stream does not end with a blank line: {text[-80:]!r}")
    events = text[:-2].split("\n\n")
    if events[-1] != "data: [DONE]":
        fail(f"last event is not data: [DONE] but {events[-1][:120]!r}")
    content, usage = "", False
    for event in events[:-1]:
        if "\n" in event or not event.startswith("data: "):
            fail(f"malformed event {event[:120]!r}")
        try:
            obj = json.loads(event[6:])
        except ValueError as e:
            fail(f"event is not JSON ({e}): {event[:120]!r}")
        if "error" in obj:
            fail(f"error event: {event[:200]!r}")
        if obj.get("object") != "chat.completion.chunk":
            fail(f"not a chat.completion.chunk: {event[:120]!r}")
        for choice in obj.get("choices") or []:
            content += (choice.get("delta") or {}).get("content") or ""
        usage = usage or isinstance(obj.get("usage"), dict)
    if expected is not None and content != expected:
        fail(f"unexpected streamed content {content!r}")
    if not usage:
        fail("no usage chunk in the stream")
    return f"{len(events)} SSE events incl. [DONE], {len(body)} bytes"


def main():
    if len(sys.argv) not in (6, 7) or sys.argv[1] not in ("json", "stream"):
        raise SystemExit(__doc__)
    kind, status, headers_file, body_file, canned_dir = sys.argv[1:6]
    loose = sys.argv[6:] == ["loose"]
    with open(body_file, "rb") as f:
        body = f.read()
    if status != "200":
        fail(f"HTTP {status}: {body[:300]!r}")
    ctype = content_type(headers_file)
    expected = None if loose else canned_content(canned_dir)
    if kind == "json":
        if not ctype.startswith("application/json"):
            fail(f"Content-Type {ctype!r}, expected application/json")
        print("ok: " + check_json(body, expected))
    else:
        if not ctype.startswith("text/event-stream"):
            fail(f"Content-Type {ctype!r}, expected text/event-stream")
        print("ok: " + check_stream(body, expected))


if __name__ == "__main__":
    main()
