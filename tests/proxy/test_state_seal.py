"""The hub's sealed ``request_state``: what it refuses, and when it stops being honoured."""

from __future__ import annotations

import pytest

from hub.proxy.errors import RequestStateError
from hub.proxy.state import Opened, StateSeal


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_state_opens_for_its_caller_and_request_until_it_expires() -> None:
    clock = Clock()
    seal = StateSeal(ttl=60, clock=clock)
    state = seal.seal("pass", "upstream-state", audience="tenant/ann", target="tools/call echo")
    assert "upstream-state" not in state  # opaque to the caller, though not secret
    assert seal.open(state, audience="tenant/ann", target="tools/call echo") == Opened(
        "pass", "upstream-state"
    )
    clock.now += 60
    assert seal.open(state, audience="tenant/ann", target="tools/call echo").value == "upstream-state"
    clock.now += 2
    with pytest.raises(RequestStateError, match="expired"):
        seal.open(state, audience="tenant/ann", target="tools/call echo")


def test_a_state_is_refused_to_anyone_else_for_anything_else_and_when_altered() -> None:
    seal = StateSeal()
    state = seal.seal("park", "call-1", audience="tenant/ann", target="tools/call echo")
    with pytest.raises(RequestStateError, match="integrity check"):
        seal.open(state, audience="tenant/bob", target="tools/call echo")
    with pytest.raises(RequestStateError, match="integrity check"):
        StateSeal().open(state, audience="tenant/ann", target="tools/call echo")  # another hub's key
    with pytest.raises(RequestStateError, match="belongs to 'tools/call echo', not to 'prompts/get echo'"):
        seal.open(state, audience="tenant/ann", target="prompts/get echo")
    prefix, body, mac = state.split(".")
    with pytest.raises(RequestStateError, match="integrity check"):
        seal.open(f"{prefix}.{body}x.{mac}", audience="tenant/ann", target="tools/call echo")
    with pytest.raises(RequestStateError, match="not one the hub issued"):
        seal.open("upstream-state", audience="tenant/ann", target="tools/call echo")


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        StateSeal(b"short")
