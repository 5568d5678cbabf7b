#!/usr/bin/env python3
"""Drive a running Sluice gateway with the official OpenAI and Anthropic Python SDKs.

    scripts/sdk-check.py [--base-url URL] [--key KEY] [--live]

URL and KEY default to $SLUICE_BASE_URL (else http://127.0.0.1:8080/v1) and
$SLUICE_KEY (else the contents of run/gateway.key, written by scripts/up).

Expects the routes of the offline default config (scripts/sluice.default.yaml):
`chat`, `completions` and `embeddings`, and one chat (and embeddings) route per
provider kind (`chat-anthropic`, `chat-bedrock`, `chat-azure`, `chat-databricks`,
`embeddings-azure`, `embeddings-databricks`, `embeddings-bedrock`), all served by
`sluice-mock` in each provider's own wire format, whose answers are
deterministic ("Echo: " + the prompt). Every chat route must give the OpenAI SDK
identical-looking answers (plain, streamed with exactly one usage chunk, tool calls,
streamed tool calls, structured outputs through `chat.completions.parse`), every answer
and chunk must carry what OpenAI's OpenAPI document requires, and the Anthropic SDK the
same through /v1/messages (prompt caching, extended thinking over a tool-use round
trip, count_tokens). Gateway features through the SDKs on `chat-guarded`, `chat-cached`
and `chat-sized`: a blocked secret (both SDKs), masked and restored personal data, a
stream replayed from the cache, a context-window skip and refusal. With --live (a gateway in
front of real models) the checks that depend on the mock's exact text are
relaxed to "non-empty".

Prints one line per check and, last, exactly "N passed, M failed"; exits
non-zero if any check failed.
"""

import argparse
import json
import math
import os
import pathlib
import sys

try:
    import openai
    from openai import OpenAI
except ImportError:
    sys.exit("sdk-check: the openai package is missing (pip install openai)")
import urllib.request

import pydantic  # installed with openai

from sdk_support import Checks, expect, expect_raises  # noqa: E402 (after the openai check)
from sdk_features import feature_checks  # noqa: E402

try:
    import anthropic
except ImportError:  # the Anthropic checks are skipped (and counted as failed) without it
    anthropic = None

CHAT_ROUTES = ["chat", "chat-anthropic", "chat-bedrock", "chat-azure", "chat-databricks"]
# Routes whose provider has explicit prompt caching and signs thinking blocks.
CACHING_ROUTES = SIGNING_ROUTES = {"chat-anthropic", "chat-bedrock"}
EMBEDDING_ROUTES = ["embeddings", "embeddings-azure", "embeddings-databricks", "embeddings-bedrock"]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROMPT = "Say hello to the sluice gateway in a few words"


def default_key() -> str:
    key = os.environ.get("SLUICE_KEY", "")
    if not key and (ROOT / "run" / "gateway.key").is_file():
        key = (ROOT / "run" / "gateway.key").read_text().strip()
    return key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("SLUICE_BASE_URL", "http://127.0.0.1:8080/v1"))
    parser.add_argument("--key", default=default_key())
    parser.add_argument("--mock-url", default=os.environ.get(
                            "SLUICE_MOCK_URL", f"http://127.0.0.1:{os.environ.get('SLUICE_MOCK_PORT', '9911')}"),
                        help="the mock provider, whose /_mock/stats shows what a provider received")
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

    def chat_plain(route="chat"):
        r = client.chat.completions.create(model=route, messages=[{"role": "user", "content": PROMPT}])
        text = r.choices[0].message.content or ""
        expect(text != "", "empty answer")
        if mock:
            expect(text == expected_text, f"answer {text!r}, expected {expected_text!r}")
        expect(r.usage is not None and r.usage.total_tokens > 0, f"usage {r.usage}")
        expect(bool(r.model), "no model in the answer")
        expect(r.choices[0].finish_reason == "stop", f"finish_reason {r.choices[0].finish_reason!r}")
        answers[route] = (text, r.usage)
        return f"{r.usage.completion_tokens} completion tokens"

    def chat_stream(route="chat"):
        stream = client.chat.completions.create(
            model=route, messages=[{"role": "user", "content": PROMPT}],
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
        expect(finish == "stop", f"finish_reason {finish!r}")
        if mock and route in answers:
            plain, usage = answers[route]
            expect(text == plain, f"streamed {text!r} differs from the plain answer")
            expect((usages[0].prompt_tokens, usages[0].completion_tokens) == (usage.prompt_tokens, usage.completion_tokens),
                   f"streamed usage {usages[0]} differs from the plain answer's {usage}")
        return f"{len(pieces)} content chunks, usage {usages[0].total_tokens} tokens"

    def chat_stream_without_usage(route="chat"):
        stream = client.chat.completions.create(
            model=route, messages=[{"role": "user", "content": PROMPT}], stream=True)
        chunks = list(stream)
        usage_chunks = [c for c in chunks if c.usage is not None]
        expect(not usage_chunks, f"{len(usage_chunks)} usage chunk(s) although the client did not ask")
        return f"{len(chunks)} chunks, no usage"

    def tool_call(route="chat"):
        r = client.chat.completions.create(
            model=route, tools=[WEATHER_TOOL],
            messages=[{"role": "user", "content": "What is the weather in Paris?"}])
        choice = r.choices[0]
        expect(choice.finish_reason == "tool_calls", f"finish_reason {choice.finish_reason!r}")
        calls = choice.message.tool_calls or []
        expect(len(calls) == 1, f"{len(calls)} tool calls")
        expect(calls[0].function.name == "get_weather", f"tool {calls[0].function.name!r}")
        arguments = json.loads(calls[0].function.arguments)
        if mock:
            expect(arguments == {"location": "Paris"}, f"arguments {arguments!r}")
        expect(calls[0].id, "no tool call id")
        # The tool's answer goes back as a tool message with the call's id.
        follow = client.chat.completions.create(model=route, tools=[WEATHER_TOOL], messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": calls[0].id, "type": "function",
                 "function": {"name": "get_weather", "arguments": calls[0].function.arguments}}]},
            {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny, 21 C"},
        ])
        expect(follow.choices[0].message.content, "no answer after the tool result")
        return f"id {calls[0].id}"

    def tool_call_stream(route="chat"):
        stream = client.chat.completions.create(
            model=route, tools=[WEATHER_TOOL], stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "What is the weather in Paris?"}])
        calls, finish, usages = {}, None, 0
        for chunk in stream:
            usages += chunk.usage is not None
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for delta in choice.delta.tool_calls or []:
                    call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                    if delta.id:
                        call["id"] = delta.id
                    if delta.function and delta.function.name:
                        call["name"] += delta.function.name
                    if delta.function and delta.function.arguments:
                        call["arguments"] += delta.function.arguments
        expect(list(calls) == [0], f"tool call indexes {sorted(calls)}, expected [0]")
        expect(calls[0]["id"] and calls[0]["name"] == "get_weather", f"call {calls[0]}")
        expect(json.loads(calls[0]["arguments"]) == {"location": "Paris"} or not mock, f"arguments {calls[0]['arguments']!r}")
        expect(finish == "tool_calls", f"finish_reason {finish!r}")
        expect(usages == 1, f"{usages} usage chunks")
        return f"id {calls[0]['id']}"

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

    def embeddings(route="embeddings"):
        # The SDK asks for base64 unless told otherwise, and decodes it. Titan takes one
        # text per call, so every route is asked for one text per call here.
        inputs = ["the first text", "a second, different text"]
        by_default = [client.embeddings.create(model=route, input=[text]) for text in inputs]
        as_float = [client.embeddings.create(model=route, input=[text], encoding_format="float") for text in inputs]
        expect(all(r.usage.prompt_tokens > 0 for r in by_default), "no prompt_tokens in usage")
        by_default = type("R", (), {"data": [r.data[0] for r in by_default]})
        as_float = type("R", (), {"data": [r.data[0] for r in as_float]})
        expect(len(by_default.data) == 2 and len(as_float.data) == 2, "expected one embedding per input")
        for a, b in zip(by_default.data, as_float.data):
            va, vb = list(a.embedding), list(b.embedding)
            expect(len(va) == len(vb) > 0, f"dimensions {len(va)} vs {len(vb)}")
            expect(all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7) for x, y in zip(va, vb)),
                   "base64 and float vectors differ")
        expect(list(by_default.data[0].embedding) != list(by_default.data[1].embedding),
               "different inputs gave the same vector")
        return f"{len(by_default.data[0].embedding)} dimensions, base64 == float"

    def parse_structured(route):
        class City(pydantic.BaseModel):
            city: str
            population: int
        r = client.chat.completions.parse(model=route, response_format=City,
                                          messages=[{"role": "user", "content": "The biggest city in France, as json"}])
        parsed = r.choices[0].message.parsed
        expect(isinstance(parsed, City), f"parsed {parsed!r}")
        expect(r.choices[0].finish_reason == "stop", f"finish_reason {r.choices[0].finish_reason!r}")
        return f"{parsed!r}"

    def schema(route):
        """Every answer and chunk against OpenAI's OpenAPI document (openai/openai-openapi):
        CreateChatCompletionResponse and CreateChatCompletionStreamResponse."""
        def post(body):
            request = urllib.request.Request(args.base_url + "/chat/completions", data=json.dumps(body).encode(),
                                             headers={"Authorization": f"Bearer {args.key}",
                                                      "Content-Type": "application/json"})
            return urllib.request.urlopen(request, timeout=60)
        body = {"model": route, "messages": [{"role": "user", "content": PROMPT}]}
        with post(body) as answer:
            check_completion(json.loads(answer.read()))
        chunks = 0
        for include_usage in (False, True):
            stream = dict(body, stream=True, stream_options={"include_usage": include_usage})
            usage_chunks = 0
            with post(stream) as response:
                for raw_line in response:
                    line = raw_line.decode().rstrip("\r\n")
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    check_chunk(chunk)
                    chunks += 1
                    usage_chunks += chunk.get("usage") is not None
            expect(usage_chunks == (1 if include_usage else 0),
                   f"{usage_chunks} usage chunks with include_usage={include_usage}")
        return f"1 answer, {chunks} chunks valid"

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

    for route in CHAT_ROUTES:
        checks.run(f"{route}: chat completion", lambda: chat_plain(route))
        checks.run(f"{route}: streamed with include_usage", lambda: chat_stream(route))
        checks.run(f"{route}: streamed without usage", lambda: chat_stream_without_usage(route))
        checks.run(f"{route}: tool call and tool result", lambda: tool_call(route))
        checks.run(f"{route}: streamed tool call", lambda: tool_call_stream(route))
        checks.run(f"{route}: chat.completions.parse with a JSON schema", lambda: parse_structured(route))
        checks.run(f"{route}: answers and chunks match OpenAI's schema", lambda: schema(route))
    if mock:
        checks.run("every provider kind gives the same answer", lambda: expect(
            len({answers[r][0] for r in CHAT_ROUTES if r in answers}) == 1 and len(answers) == len(CHAT_ROUTES),
            f"answers {({r: answers[r][0] for r in answers})}"))
    checks.run("completion", completions_plain)
    checks.run("completion, streamed", completions_stream)
    for route in EMBEDDING_ROUTES:
        checks.run(f"{route}: embeddings, base64 (SDK default) and float", lambda: embeddings(route))
    responses_checks(checks, client, mock)
    anthropic_checks(checks, args, mock)
    if mock:
        feature_checks(checks, client, args)
    checks.run("models.list() has the default routes", models)
    checks.run("bad key -> AuthenticationError", bad_key)
    checks.run("unknown model -> NotFoundError", unknown_model)
    checks.run("bad input -> BadRequestError", bad_input)

    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


FINISH_REASONS = {"stop", "length", "tool_calls", "content_filter", "function_call"}


def require(obj: dict, fields, where: str) -> None:
    missing = [f for f in fields if f not in obj]
    expect(not missing, f"{where}: missing required {missing} in {json.dumps(obj)[:300]}")


def check_common(obj: dict, kind: str) -> None:
    require(obj, ["id", "choices", "created", "model", "object"], kind)
    expect(obj["object"] == kind, f"object {obj['object']!r}, expected {kind!r}")
    expect(isinstance(obj["id"], str) and obj["id"], f"{kind}: id {obj['id']!r}")
    expect(isinstance(obj["created"], int), f"{kind}: created {obj['created']!r}")
    expect(isinstance(obj["model"], str) and obj["model"], f"{kind}: model {obj['model']!r}")
    usage = obj.get("usage")
    if usage is not None:
        require(usage, ["prompt_tokens", "completion_tokens", "total_tokens"], f"{kind}.usage")


def check_completion(obj: dict) -> None:
    """CreateChatCompletionResponse: choices[] need finish_reason, index, message, logprobs;
    the message needs role, content and refusal (content and refusal nullable)."""
    check_common(obj, "chat.completion")
    expect(len(obj["choices"]) >= 1, "no choices")
    for choice in obj["choices"]:
        require(choice, ["finish_reason", "index", "message", "logprobs"], "choices[]")
        expect(choice["finish_reason"] in FINISH_REASONS, f"finish_reason {choice['finish_reason']!r}")
        require(choice["message"], ["role", "content", "refusal"], "choices[].message")
        expect(choice["message"]["role"] == "assistant", f"role {choice['message']['role']!r}")


def check_chunk(obj: dict) -> None:
    """CreateChatCompletionStreamResponse: choices[] need delta, finish_reason and index; a
    chunk without choices is the usage chunk."""
    check_common(obj, "chat.completion.chunk")
    if not obj["choices"]:
        expect(obj.get("usage") is not None, f"a chunk with no choices and no usage: {json.dumps(obj)[:300]}")
    for choice in obj["choices"]:
        require(choice, ["delta", "finish_reason", "index"], "chunk.choices[]")
        expect(choice["finish_reason"] in FINISH_REASONS | {None}, f"finish_reason {choice['finish_reason']!r}")
        expect(obj.get("usage") is None, "usage on a chunk with choices")


def responses_checks(checks: Checks, client, mock: bool) -> None:
    """The OpenAI SDK's Responses API (`client.responses.create`) on every chat route:
    native on OpenAI-family providers, translated elsewhere."""
    tool = {"type": "function", "name": "get_weather", "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                           "required": ["location"], "additionalProperties": False}, "strict": True}
    expected = "Echo: " + PROMPT

    def plain(route):
        r = client.responses.create(model=route, input=PROMPT)
        expect(r.status == "completed", f"status {r.status!r}")
        expect(not mock or r.output_text == expected, f"output_text {r.output_text!r}")
        expect(r.usage is not None and r.usage.input_tokens > 0 and r.usage.output_tokens > 0, f"usage {r.usage}")
        return f"{r.id}, {r.usage.output_tokens} output tokens"

    def streamed(route):
        events = list(client.responses.create(model=route, input=PROMPT, stream=True))
        types = [e.type for e in events]
        expect(types[0] == "response.created" and types[-1] == "response.completed", f"events {types[:3]}…{types[-2:]}")
        numbers = [e.sequence_number for e in events]
        expect(numbers == sorted(numbers) and len(set(numbers)) == len(numbers), "sequence numbers out of order")
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        expect(not mock or text == expected, f"streamed {text!r}")
        final = events[-1].response
        expect(final.usage is not None and final.usage.output_tokens > 0, f"usage {final.usage}")
        return f"{len(events)} events"

    def tool_round_trip(route):
        first = client.responses.create(model=route, input="What is the weather in Paris?", tools=[tool])
        calls = [item for item in first.output if item.type == "function_call"]
        expect(len(calls) == 1 and calls[0].name == "get_weather", f"output {[i.type for i in first.output]}")
        expect("location" in json.loads(calls[0].arguments), f"arguments {calls[0].arguments!r}")
        follow = client.responses.create(model=route, previous_response_id=first.id, tools=[tool], input=[
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21 C"}])
        expect(follow.status == "completed" and follow.output_text, f"follow-up {follow.status!r} {follow.output_text!r}")
        expect(follow.previous_response_id == first.id, "previous_response_id not echoed")
        again = client.responses.retrieve(first.id)
        expect(again.id == first.id, "retrieve gave another response")
        return f"{first.id} → {follow.id}"

    def agents_shape(route):
        # What the Agents SDK sends: instructions, input items with an earlier exchange, reasoning.
        r = client.responses.create(model=route, instructions="You are a terse assistant.", reasoning={"effort": "low"},
                                    store=False, include=["reasoning.encrypted_content"], input=[
            {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
            {"role": "user", "content": PROMPT}])
        expect(r.status == "completed" and r.output_text, f"{r.status!r} {r.output_text!r}")
        return f"{[item.type for item in r.output]}"

    for route in CHAT_ROUTES:
        checks.run(f"responses, {route}: create", lambda: plain(route))
        checks.run(f"responses, {route}: stream=True", lambda: streamed(route))
        checks.run(f"responses, {route}: function tool round trip + previous_response_id", lambda: tool_round_trip(route))
    checks.run("responses, chat-anthropic: Agents SDK call shape", lambda: agents_shape("chat-anthropic"))


def anthropic_checks(checks: Checks, args, mock: bool) -> None:
    """The official Anthropic SDK against /v1/messages, served from every chat route."""
    if anthropic is None:
        checks.run("anthropic SDK", lambda: expect(False, "the anthropic package is missing (pip install anthropic)"))
        return
    base = args.base_url[:-3] if args.base_url.endswith("/v1") else args.base_url
    client = anthropic.Anthropic(base_url=base, api_key=args.key, max_retries=0, timeout=60)
    expected = "Echo: " + PROMPT
    tool = {"name": "get_weather", "description": "The weather in a city",
            "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}

    def message(route):
        m = client.messages.create(model=route, max_tokens=256, system="Answer briefly.",
                                   messages=[{"role": "user", "content": PROMPT}])
        text = "".join(block.text for block in m.content if block.type == "text")
        expect(not mock or text == expected, f"answer {text!r}")
        expect(m.stop_reason == "end_turn", f"stop_reason {m.stop_reason!r}")
        expect(m.usage.input_tokens > 0 and m.usage.output_tokens > 0, f"usage {m.usage}")
        return f"{m.usage.output_tokens} output tokens"

    def stream(route):
        with client.messages.stream(model=route, max_tokens=256,
                                    messages=[{"role": "user", "content": PROMPT}]) as s:
            pieces = list(s.text_stream)
            final = s.get_final_message()
        text = "".join(pieces)
        expect(len(pieces) >= 2, f"{len(pieces)} text deltas")
        expect(not mock or text == expected, f"streamed {text!r}")
        expect(final.stop_reason == "end_turn", f"stop_reason {final.stop_reason!r}")
        expect(final.usage.output_tokens > 0, f"usage {final.usage}")
        return f"{len(pieces)} deltas, {final.usage.output_tokens} output tokens"

    def tool_use(route):
        m = client.messages.create(model=route, max_tokens=256, tools=[tool],
                                   messages=[{"role": "user", "content": "What is the weather in Paris?"}])
        uses = [block for block in m.content if block.type == "tool_use"]
        expect(m.stop_reason == "tool_use" and len(uses) == 1, f"stop_reason {m.stop_reason!r}, {len(uses)} tool uses")
        expect(uses[0].name == "get_weather" and (not mock or uses[0].input == {"location": "Paris"}), f"{uses[0]}")
        follow = client.messages.create(model=route, max_tokens=256, tools=[tool], messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": uses[0].id, "name": "get_weather",
                                               "input": uses[0].input}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny"}]},
        ])
        expect(any(block.type == "text" for block in follow.content), "no text after the tool result")
        return f"id {uses[0].id}"

    def errors():
        try:
            client.messages.create(model="no-such-route", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        except anthropic.NotFoundError as error:
            return f"NotFoundError, status {error.status_code}"
        raise AssertionError("expected NotFoundError")

    system = [{"type": "text", "text": "You are a careful assistant for the sluice gateway checks. " * 8,
               "cache_control": {"type": "ephemeral", "ttl": "1h"}}]

    def prompt_cache(route):
        def call():
            return client.messages.create(model=route, max_tokens=256, system=system, messages=[
                {"role": "user", "content": [{"type": "text", "text": PROMPT, "cache_control": {"type": "ephemeral"}}]}])
        first, second = call(), call()
        written = first.usage.cache_creation_input_tokens or 0
        read = second.usage.cache_read_input_tokens or 0
        if route in CACHING_ROUTES and mock:
            expect(written > 0, f"first call wrote no cache: {first.usage}")
            expect(read > 0, f"second call read no cache: {second.usage}")
        return f"written {written}, read {read}"

    def thinking_round_trip(route):
        thinking = {"type": "enabled", "budget_tokens": 1024}
        question = {"role": "user", "content": "What is the weather in Paris?"}
        m = client.messages.create(model=route, max_tokens=2048, thinking=thinking, tools=[tool], messages=[question])
        blocks = [b for b in m.content if b.type in ("thinking", "redacted_thinking")]
        uses = [b for b in m.content if b.type == "tool_use"]
        expect(len(uses) == 1, f"{len(uses)} tool uses")
        if route in SIGNING_ROUTES:
            # OpenAI-family models reason (reasoning_effort) without showing it in chat completions.
            expect(blocks, f"no thinking block in {[b.type for b in m.content]}")
            expect(all(getattr(b, "signature", "x") for b in blocks), "a thinking block without its signature")
        follow = client.messages.create(model=route, max_tokens=2048, thinking=thinking, tools=[tool], messages=[
            question,
            {"role": "assistant", "content": [b.model_dump() for b in m.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny, 21 C"}]},
        ])
        expect(any(b.type == "text" for b in follow.content), "no text after the tool result")
        return f"{len(blocks)} thinking block(s) went back signed"

    def count_tokens(route):
        counted = client.messages.count_tokens(model=route, system="Answer briefly.",
                                               messages=[{"role": "user", "content": PROMPT}])
        expect(counted.input_tokens > 0, f"input_tokens {counted.input_tokens}")
        return f"{counted.input_tokens} tokens"

    for route in CHAT_ROUTES:
        checks.run(f"anthropic SDK, {route}: message", lambda: message(route))
        checks.run(f"anthropic SDK, {route}: stream", lambda: stream(route))
        checks.run(f"anthropic SDK, {route}: tool use", lambda: tool_use(route))
        checks.run(f"anthropic SDK, {route}: cache_control", lambda: prompt_cache(route))
        checks.run(f"anthropic SDK, {route}: extended thinking over a tool round trip", lambda: thinking_round_trip(route))
        checks.run(f"anthropic SDK, {route}: count_tokens", lambda: count_tokens(route))
    checks.run("anthropic SDK: unknown model -> NotFoundError", errors)


if __name__ == "__main__":
    sys.exit(main())
