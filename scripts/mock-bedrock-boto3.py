#!/usr/bin/env python3
"""Drive `sluice-mock`'s Amazon Bedrock paths with boto3, AWS's own client.

    scripts/mock-bedrock-boto3.py --endpoint http://127.0.0.1:9911 \\
        --access-key-id AKID --secret-access-key SECRET [--region us-east-1] [--api-key KEY]

The mock must run with the same credentials (--aws-access-key-id,
--aws-secret-access-key, --aws-region, and --api-key when given here). botocore
signs every call with SigV4, parses the rest-json answers and errors, and decodes
ConverseStream's application/vnd.amazon.eventstream, checking every CRC: if
these checks pass, the mock speaks Bedrock's wire format as botocore expects it.

Prints one line per check and, last, exactly "N passed, M failed"; exits 1 if a
check failed, 3 if boto3 is not installed.
"""

import argparse
import json
import math
import os
import sys
import traceback

try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError:
    print("mock-bedrock-boto3: boto3 is missing (pip install boto3)")
    sys.exit(3)

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TOOLS = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}
NO_RETRY = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


def user(text):
    return [{"role": "user", "content": [{"text": text}]}]


def client(args, secret=None):
    return boto3.client("bedrock-runtime", region_name=args.region, endpoint_url=args.endpoint,
                        aws_access_key_id=args.access_key_id, aws_secret_access_key=secret or args.secret_access_key,
                        config=NO_RETRY)


def error_code(call):
    try:
        call()
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
    raise AssertionError("the call succeeded")


def check_converse(bedrock):
    answer = bedrock.converse(modelId=MODEL, messages=user("hello mock bedrock"), inferenceConfig={"maxTokens": 3})
    assert answer["output"]["message"]["content"] == [{"text": "Echo: hello mock"}], answer
    assert answer["stopReason"] == "max_tokens", answer
    assert answer["usage"] == {"inputTokens": 6, "outputTokens": 3, "totalTokens": 9}, answer


def check_converse_stream(bedrock):
    events = list(bedrock.converse_stream(modelId=MODEL, messages=user("stream these words"))["stream"])
    kinds = [next(iter(event)) for event in events]
    assert kinds == ["messageStart"] + ["contentBlockDelta"] * 4 + ["contentBlockStop", "messageStop", "metadata"], kinds
    text = "".join(event["contentBlockDelta"]["delta"]["text"] for event in events if "contentBlockDelta" in event)
    assert text == "Echo: stream these words", text
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 4, events[-1]


def check_parallel_tool_use(bedrock):
    events = list(bedrock.converse_stream(modelId=MODEL + "@tools=2", messages=user("weather?"),
                                          toolConfig=TOOLS)["stream"])
    inputs = {}
    for event in events:
        if "contentBlockDelta" in event:
            delta = event["contentBlockDelta"]
            inputs[delta["contentBlockIndex"]] = inputs.get(delta["contentBlockIndex"], "") + delta["delta"]["toolUse"]["input"]
    assert {k: json.loads(v) for k, v in inputs.items()} == {0: {"location": "Paris"}, 1: {"location": "London"}}, inputs
    assert events[-2] == {"messageStop": {"stopReason": "tool_use"}}, events[-2]


def check_stream_exception(bedrock):
    stream = bedrock.converse_stream(modelId=MODEL + "@stream_exception=throttlingException", messages=user("a b"))["stream"]
    try:
        list(stream)
    except botocore.exceptions.EventStreamError as error:
        assert error.response["Error"]["Code"] == "throttlingException", error.response
        return
    raise AssertionError("the stream ended without the exception")


def check_titan(bedrock):
    answer = bedrock.invoke_model(modelId="amazon.titan-embed-text-v2:0",
                                  body=json.dumps({"inputText": "hello", "dimensions": 256}))
    body = json.loads(answer["body"].read())
    assert len(body["embedding"]) == 256 and body["inputTextTokenCount"] == 1, body.keys()
    assert abs(math.sqrt(sum(x * x for x in body["embedding"])) - 1) < 1e-4


def check_cohere(bedrock):
    answer = bedrock.invoke_model(modelId="cohere.embed-english-v3",
                                  body=json.dumps({"texts": ["a", "b c"], "input_type": "search_query"}))
    body = json.loads(answer["body"].read())
    assert body["response_type"] == "embeddings_floats" and len(body["embeddings"]) == 2, body.keys()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--access-key-id", required=True)
    parser.add_argument("--secret-access-key", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--api-key")
    args = parser.parse_args()
    os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)
    bedrock = client(args)
    checks = [
        ("converse (SigV4, JSON)", lambda: check_converse(bedrock)),
        ("converse_stream (event stream)", lambda: check_converse_stream(bedrock)),
        ("converse_stream parallel toolUse", lambda: check_parallel_tool_use(bedrock)),
        ("converse_stream throttlingException", lambda: check_stream_exception(bedrock)),
        ("invoke_model Titan V2", lambda: check_titan(bedrock)),
        ("invoke_model Cohere v3", lambda: check_cohere(bedrock)),
        ("ThrottlingException (status=429)", lambda: assert_equal(error_code(
            lambda: bedrock.converse(modelId=MODEL + "@status=429", messages=user("x"))), "ThrottlingException")),
        ("InvalidSignatureException (wrong secret)", lambda: assert_equal(error_code(
            lambda: client(args, secret="wrong").converse(modelId=MODEL, messages=user("x"))), "InvalidSignatureException")),
    ]
    if args.api_key:
        def bearer():
            os.environ["AWS_BEARER_TOKEN_BEDROCK"] = args.api_key
            try:
                keyed = boto3.client("bedrock-runtime", region_name=args.region, endpoint_url=args.endpoint, config=NO_RETRY)
                check_converse(keyed)
            finally:
                os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)
        checks.append(("converse (Bedrock API key)", bearer))
    failed = 0
    for name, check in checks:
        try:
            check()
            print(f"ok    {name}")
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL  {name}\n{traceback.format_exc()}")
    print(f"{len(checks) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def assert_equal(actual, expected):
    assert actual == expected, f"{actual!r} != {expected!r}"


if __name__ == "__main__":
    main()
