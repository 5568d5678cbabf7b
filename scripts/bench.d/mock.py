#!/usr/bin/env python3
"""Renders the benchmark's mock provider: an nginx.conf whose server answers
`POST .../v1/chat/completions` with canned OpenAI responses, as fast as nginx
can send a constant.

    mock.py PREFIX PORT OUT [USER]

nginx cannot branch on the JSON body, so the kind of answer is chosen by the
path prefix (the gateway's routes point at different base URLs):

    /json/v1/chat/completions     a chat.completion object with usage
    /stream/v1/chat/completions   ~20 `data: {chat.completion.chunk}` events
                                  (the last one carries usage), then
                                  `data: [DONE]`, as text/event-stream

The canned bodies are also written to PREFIX/canned.json and
PREFIX/canned.sse so scripts/bench can compare what each target returns.
USER, when given, becomes nginx's `user` directive (needed as root: workers
must reach the temp paths under PREFIX).
"""
import json
import os
import sys

CREATED = 1700000000
MODEL = "bench-mock"
WORDS = ("Sluice benchmark answer: a short canned reply, streamed word by word "
         "so that every event is a small chunk.").split()


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True)


def canned_json():
    content = " ".join(WORDS)
    return compact({
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [{"index": 0,
                     "message": {"role": "assistant", "content": content, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": len(WORDS), "total_tokens": 9 + len(WORDS)},
        "system_fingerprint": "fp_bench",
    }) + "\n"


def canned_sse():
    def chunk(delta, finish=None, usage=None, choices=True):
        obj = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": CREATED,
               "model": MODEL, "system_fingerprint": "fp_bench",
               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
               if choices else []}
        if usage is not None:
            obj["usage"] = usage
        return "data: " + compact(obj) + "\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    for i, word in enumerate(WORDS):
        events.append(chunk({"content": (" " if i else "") + word}))
    events.append(chunk({}, finish="stop"))
    events.append(chunk(None, usage={"prompt_tokens": 9, "completion_tokens": len(WORDS),
                                     "total_tokens": 9 + len(WORDS)}, choices=False))
    events.append("data: [DONE]\n\n")
    return "".join(events)


def nginx_string(text):
    """A single-quoted nginx string: nginx's parser turns \\n back into a newline.
    `$` would start a variable and cannot be escaped: refuse it."""
    if "$" in text:
        raise SystemExit("mock.py: canned text must not contain '$'")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def answer(name, text):
    """`set` lines and the `return` for TEXT. nginx refuses a config token longer
    than its 4 KB read buffer, so a long body is split (at line ends) into
    variables that `return` joins again: constant `set`s only store a pointer."""
    pieces, current = [], ""
    for line in text.splitlines(keepends=True):
        if current and len(nginx_string(current + line)) > 3000:
            pieces.append(current)
            current = ""
        current += line
    pieces.append(current)
    if len(pieces) == 1:
        return f"return 200 {nginx_string(text)};"
    sets = "".join(f"set $bench_{name}_{i} {nginx_string(p)};\n            " for i, p in enumerate(pieces))
    joined = "".join(f"$bench_{name}_{i}" for i in range(len(pieces)))
    return f'{sets}return 200 "{joined}";'


def main():
    if len(sys.argv) not in (4, 5):
        raise SystemExit(__doc__)
    prefix, port, out = sys.argv[1], sys.argv[2], sys.argv[3]
    user = sys.argv[4] if len(sys.argv) == 5 else ""
    if not port.isdigit():
        raise SystemExit("mock.py: PORT must be a number")
    body_json, body_sse = canned_json(), canned_sse()
    assert body_sse.count("data: ") >= 20
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    with open(os.path.join(prefix, "canned.json"), "w") as f:
        f.write(body_json)
    with open(os.path.join(prefix, "canned.sse"), "w") as f:
        f.write(body_sse)

    conf = f"""# Rendered by scripts/bench.d/mock.py: the benchmark's mock provider.
{f"user {user};" if user else ""}
worker_processes 1;
pid       {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    client_body_temp_path {prefix}/client_body_temp;
    proxy_temp_path       {prefix}/proxy_temp;
    fastcgi_temp_path     {prefix}/fastcgi_temp;
    uwsgi_temp_path       {prefix}/uwsgi_temp;
    scgi_temp_path        {prefix}/scgi_temp;

    access_log off;
    server_tokens off;
    types {{ }}
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_buffer_size 1m;

    server {{
        listen 127.0.0.1:{port} backlog=4096;

        location = /json/v1/chat/completions {{
            default_type application/json;
            {answer("json", body_json)}
        }}

        location = /stream/v1/chat/completions {{
            default_type text/event-stream;
            add_header Cache-Control no-cache;
            {answer("sse", body_sse)}
        }}

        location / {{
            default_type application/json;
            return 404 '{{"error":{{"message":"bench mock: unknown path","type":"invalid_request_error","param":null,"code":"not_found"}}}}\\n';
        }}
    }}
}}
"""
    with open(out, "w") as f:
        f.write(conf)


if __name__ == "__main__":
    main()
