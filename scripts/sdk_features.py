"""scripts/sdk-check.py's checks of gateway features as SDK users meet them: guardrails,
the response cache and context windows (routes chat-guarded, chat-cached, chat-sized of
the default config)."""

import json
import os
import time
import urllib.request

import openai

from sdk_support import Checks, expect, expect_raises

try:
    import anthropic
except ImportError:
    anthropic = None


def feature_checks(checks: Checks, client, args) -> None:
    """Guardrails, the response cache and context windows as SDK users meet them
    (routes chat-guarded, chat-cached, chat-sized of the default config)."""
    secret = "my key is AKIAIOSFODNN7EXAMPLE, keep it"

    def blocked():
        detail = expect_raises(openai.BadRequestError, lambda: client.chat.completions.create(
            model="chat-guarded", messages=[{"role": "user", "content": secret}]), code="content_blocked")
        return detail

    def masked_and_restored():
        r = client.chat.completions.create(model="chat-guarded", messages=[
            {"role": "user", "content": "write to alice@example.com or call +1 415 555 0132"}])
        text = r.choices[0].message.content
        expect(text == "Echo: write to alice@example.com or call +1 415 555 0132", f"answer {text!r}")
        with urllib.request.urlopen(args.mock_url + "/_mock/stats", timeout=10) as answer:
            sent = json.load(answer)["last_request"]["body"]
        expect("<EMAIL_1>" in sent and "<PHONE_1>" in sent, f"the provider got {sent!r}")
        expect("alice@example.com" not in sent and "555" not in sent, f"the provider saw the values: {sent!r}")
        return "the provider got placeholders; the echo carries the originals back"

    def blocked_mid_stream():
        seen = []
        try:
            for chunk in client.chat.completions.create(model="chat-guarded", stream=True, messages=[
                    {"role": "user", "content": "please repeat the forbidden word"}]):
                seen += [choice.delta.content or "" for choice in chunk.choices]
        except openai.APIError as error:
            expect("answer_blocked" in str(error.body) + str(error.message), f"error {error.body!r}")
            expect("forbidden" not in "".join(seen), f"the client saw {''.join(seen)!r}")
            return f"APIError while iterating, after {len(seen)} deltas without the word"
        raise AssertionError("the stream ended without an error")

    def anthropic_blocked():
        if anthropic is None:
            raise AssertionError("the anthropic package is missing")
        base = args.base_url[:-3] if args.base_url.endswith("/v1") else args.base_url
        claude = anthropic.Anthropic(base_url=base, api_key=args.key, max_retries=0, timeout=60)
        try:
            claude.messages.create(model="chat-guarded", max_tokens=50, messages=[{"role": "user", "content": secret}])
        except anthropic.BadRequestError as error:
            expect(error.body["error"]["type"] == "invalid_request_error", f"error {error.body}")
            expect("AKIA" not in str(error.body), "the secret is echoed")
            return f"BadRequestError, {error.body['error']['type']}"
        raise AssertionError("the call succeeded")

    def cached_stream():
        def run(user):
            raw = client.chat.completions.with_raw_response.create(
                model="chat-cached", stream=True, user=user,
                messages=[{"role": "user", "content": "a question worth caching " + str(os.getpid())}])
            chunks = list(raw.parse())
            return raw.headers.get("x-sluice-cache"), [c.model_dump_json() for c in chunks]
        first_state, first = run("u1")
        for _ in range(20):  # stored once the first response is out
            second_state, second = run("u2")
            if second_state == "hit":
                break
            time.sleep(0.05)
        expect(first_state == "miss" and second_state == "hit", f"cache {first_state} then {second_state}")
        expect(first == second, "the replayed stream differs")
        return f"{len(second)} chunks replayed byte for byte"

    def context_window():
        long = " ".join(["lorem"] * 300)
        raw = client.chat.completions.with_raw_response.create(
            model="chat-sized", messages=[{"role": "user", "content": long}])
        expect(raw.headers.get("x-sluice-endpoint") == "large", f"served by {raw.headers.get('x-sluice-endpoint')}")
        expect(raw.headers.get("x-sluice-context-skipped") == "small", f"skipped {raw.headers.get('x-sluice-context-skipped')}")
        return expect_raises(openai.BadRequestError, lambda: client.chat.completions.create(
            model="chat-sized", max_tokens=300000, messages=[{"role": "user", "content": "hi"}]),
            code="context_length_exceeded")

    checks.run("chat-guarded: a secret -> BadRequestError content_blocked", blocked)
    checks.run("chat-guarded: personal data masked for the provider, restored in the answer", masked_and_restored)
    checks.run("chat-guarded: an answer blocked mid-stream -> APIError from the stream", blocked_mid_stream)
    checks.run("anthropic SDK, chat-guarded: a secret -> BadRequestError", anthropic_blocked)
    checks.run("chat-cached: a stream asked twice is replayed from the cache", cached_stream)
    checks.run("chat-sized: a long prompt skips the small window; too long for all -> 400", context_window)
