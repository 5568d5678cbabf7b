"""What every check of scripts/sdk-check.py uses: the tally, and the two expectations."""

import os
import sys
import traceback

import openai


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
