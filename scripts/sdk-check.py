#!/usr/bin/env python3
"""Drive a running Sluice gateway with the official OpenAI Python SDK.

    scripts/sdk-check.py [--base-url URL] [--key KEY] [--live]

URL and KEY default to $SLUICE_BASE_URL (else http://127.0.0.1:8080/v1) and
$SLUICE_KEY (else the contents of run/gateway.key, written by scripts/up).

Expects the routes of the offline default config (scripts/sluice.default.yaml):
`chat`, `completions` and `embeddings`, served by `sluice mock-provider`, whose
answers are deterministic ("Echo: " + the prompt). With --live (a gateway in
front of real models) the checks that depend on the mock's exact text are
relaxed to "non-empty".

Prints one line per check and, last, exactly "N passed, M failed"; exits
non-zero if any check failed.
"""

import argparse
import math
import os
import pathlib
import sys
import traceback

try:
    import openai
    from openai import OpenAI
except ImportError:
    sys.exit("sdk-check: the openai package is missing (pip install openai)")

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROMPT = "Say hello to the sluice gateway in a few words"


def default_key() -> str:
    key = os.environ.get("SLUICE_KEY", "")
    if not key and (ROOT / "run" / "gateway.key").is_file():
        key = (ROOT / "run" / "gateway.key").read_text().strip()
    return key


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def run(self, name, fn) -> None:
        try:
            detail = fn()
        except Exception as error:  # a failed check, whatever raised
            self.failed += 1
            print(f"FAIL  {name}: {type(error).__name__}: {error}")
            if os.environ.get("SDK_CHECK_TRACEBACK"):
                traceback.print_exc()
        else:
            self.passed += 1
            print(f"ok    {name}" + (f" ({detail})" if detail else ""))
        sys.stdout.flush()


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def expect_raises(error_type, fn, code=None) -> str:
    try:
        fn()
    except error_type as error:
        if code is not None and error.code != code:
            raise AssertionError(f"{error_type.__name__} with code {error.code!r}, expected {code!r}: "
                                 f"{error.message}") from None
        return f"{error_type.__name__}, status {error.status_code}, code {error.code}"
    except openai.APIStatusError as error:
        raise AssertionError(f"expected {error_type.__name__}, got {type(error).__name__} "
                             f"(status {error.status_code}): {error.message}") from None
    raise AssertionError(f"expected {error_type.__name__}, the call succeeded")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("SLUICE_BASE_URL", "http://127.0.0.1:8080/v1"))
    parser.add_argument("--key", default=default_key())
    parser.add_argument("--live", action="store_true",
                        help="real models behind the routes: do not expect the mock's exact answers")
    args = parser.parse_args()
    if not args.key:
        parser.error("no key: pass --key, set SLUICE_KEY, or run scripts/up")

    # No retries: every error must surface as the first answer, not be retried away.
    client = OpenAI(base_url=args.base_url, api_key=args.key, max_retries=0, timeout=60)
    mock = not args.live
    expected_text = "Echo: " + PROMPT
    checks = Checks()
    answers = {}

    def chat_plain():
        r = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": PROMPT}])
        text = r.choices[0].message.content or ""
        expect(text != "", "empty answer")
        if mock:
            expect(text == expected_text, f"answer {text!r}, expected {expected_text!r}")
        expect(r.usage is not None and r.usage.total_tokens > 0, f"usage {r.usage}")
        answers["chat"] = text
        return f"{r.usage.completion_tokens} completion tokens"

    def chat_stream():
        stream = client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": PROMPT}],
            stream=True, stream_options={"include_usage": True})
        pieces, usages, finish = [], [], None
        for chunk in stream:
            if chunk.usage is not None:
                usages.append(chunk.usage)
            for choice in chunk.choices:
                if choice.delta.content:
                    pieces.append(choice.delta.content)
                finish = choice.finish_reason or finish
        text = "".join(pieces)
        expect(len(pieces) >= 2, f"content arrived in {len(pieces)} chunk(s), expected several")
        expect(len(usages) == 1, f"{len(usages)} usage chunks, expected exactly 1")
        expect(finish is not None, "no finish_reason")
        if mock:
            expect(text == answers.get("chat", expected_text), f"streamed {text!r} differs from the plain answer")
        return f"{len(pieces)} content chunks, usage {usages[0].total_tokens} tokens"

    def completions_plain():
        r = client.completions.create(model="completions", prompt=PROMPT)
        text = r.choices[0].text
        expect(text != "", "empty answer")
        if mock:
            expect(text == expected_text, f"answer {text!r}, expected {expected_text!r}")
        expect(r.usage is not None and r.usage.total_tokens > 0, f"usage {r.usage}")
        answers["completions"] = text
        return None

    def completions_stream():
        stream = client.completions.create(model="completions", prompt=PROMPT, stream=True)
        pieces = [c.choices[0].text for c in stream if c.choices and c.choices[0].text]
        expect(len(pieces) >= 2, f"text arrived in {len(pieces)} chunk(s), expected several")
        if mock:
            expect("".join(pieces) == answers.get("completions"), "streamed text differs from the plain answer")
        return f"{len(pieces)} chunks"

    def embeddings():
        # The SDK asks for base64 unless told otherwise, and decodes it.
        inputs = ["the first text", "a second, different text"]
        by_default = client.embeddings.create(model="embeddings", input=inputs)
        as_float = client.embeddings.create(model="embeddings", input=inputs, encoding_format="float")
        expect(len(by_default.data) == 2 and len(as_float.data) == 2, "expected one embedding per input")
        for a, b in zip(by_default.data, as_float.data):
            va, vb = list(a.embedding), list(b.embedding)
            expect(len(va) == len(vb) > 0, f"dimensions {len(va)} vs {len(vb)}")
            expect(all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7) for x, y in zip(va, vb)),
                   "base64 and float vectors differ")
        expect(list(by_default.data[0].embedding) != list(by_default.data[1].embedding),
               "different inputs gave the same vector")
        return f"{len(by_default.data[0].embedding)} dimensions, base64 == float"

    def models():
        ids = {m.id for m in client.models.list()}
        missing = {"chat", "completions", "embeddings"} - ids
        expect(not missing, f"missing {sorted(missing)} in {sorted(ids)}")
        return ", ".join(sorted(ids))

    def bad_key():
        bad = OpenAI(base_url=args.base_url, api_key="sk-sluice-not-a-real-key", max_retries=0, timeout=30)
        return expect_raises(openai.AuthenticationError, lambda: bad.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}]))

    def unknown_model():
        # The code tells "no such route" from a 404 for a wrong path.
        return expect_raises(openai.NotFoundError, lambda: client.chat.completions.create(
            model="no-such-route", messages=[{"role": "user", "content": "hi"}]), code="model_not_found")

    def bad_input():
        # `messages` must be an array; the SDK does not check, the gateway must.
        return expect_raises(openai.BadRequestError, lambda: client.chat.completions.create(
            model="chat", messages="not a list"))

    checks.run("chat completion", chat_plain)
    checks.run("chat completion, streamed with include_usage", chat_stream)
    checks.run("completion", completions_plain)
    checks.run("completion, streamed", completions_stream)
    checks.run("embeddings, base64 (SDK default) and float", embeddings)
    checks.run("models.list() has the default routes", models)
    checks.run("bad key -> AuthenticationError", bad_key)
    checks.run("unknown model -> NotFoundError", unknown_model)
    checks.run("bad input -> BadRequestError", bad_input)

    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
