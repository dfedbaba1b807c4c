"""tests/waiting.py's `eventually`: it returns the check's first true value, asks again after a
false one or a failed assertion, and fails once its bound has passed, saying what it last saw."""

import asyncio

import pytest
from waiting import eventually


async def test_the_first_true_value_is_returned() -> None:
    answers = iter([0, None, "", "ready", "later"])
    assert await eventually(lambda: next(answers), interval=0) == "ready"


async def test_an_async_check_and_a_failed_assertion_are_asked_again() -> None:
    calls = []

    async def third_time() -> int:
        calls.append(1)
        assert len(calls) >= 3, f"only {len(calls)} calls"
        return len(calls)

    assert await eventually(third_time, interval=0) == 3


async def test_after_its_bound_it_fails_with_what_it_last_saw() -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()

    def never() -> bool:
        raise AssertionError("the door is shut")

    with pytest.raises(AssertionError, match=r"never did not hold within 0.2 s; still: the door"):
        await eventually(never, timeout=0.2, interval=0.01)
    assert 0.2 <= loop.time() - began < 2
    with pytest.raises(AssertionError, match=r"the check did not hold within 0.05 s; still 0"):
        await eventually(lambda: 0, timeout=0.05)
    with pytest.raises(AssertionError, match=r"^the socket closed did not hold"):
        await eventually(lambda: False, timeout=0.05, what="the socket closed")
