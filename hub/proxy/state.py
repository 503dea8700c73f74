"""The ``request_state`` the hub hands its 2026-era callers: sealed, bound to one caller and one request.

A caller gets a ``request_state`` with every ``InputRequiredResult`` and must present it, unchanged, on
the retry. What it stands for is either the upstream's own state (passed through a 2026-era link) or a
call the hub holds open on a handshake-era link (``parking.py``). Either way the caller must not be able
to alter it, to replay it past its lifetime, or to use one issued to someone else: a state names a call
the upstream made on behalf of a particular caller, and the upstream cannot tell callers apart (they
share the hub's one session). So the hub seals it with an HMAC over the caller's identity (the
"audience": its tenant and user), the request it belongs to, and an expiry.

Wire form: ``hub1.<base64url JSON body>.<base64url HMAC-SHA256>``; the audience is part of the MAC but
not of the body, so a state says nothing about whom it was issued to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hub.proxy.errors import RequestStateError

__all__ = ["Opened", "StateKind", "StateSeal"]

StateKind = Literal["pass", "park"]
"""``pass``: the upstream's own state, relayed; ``park``: the id of a call the hub holds open."""

_PREFIX = "hub1"
# A state is something a client echoes once or twice within a conversation; anything much larger than
# an upstream's own state plus the envelope is not one of ours.
_MAX_TOKEN = 256 * 1024


@dataclass(frozen=True, slots=True)
class Opened:
    """What a verified state stands for."""

    kind: StateKind
    value: str


class StateSeal:
    """Seals and opens request states with one key (random per process unless given).

    A random key means states do not survive a hub restart; that is the intent for parked calls (they
    die with the process) and acceptable for relayed ones, whose conversations last seconds to minutes:
    the caller is told to start the request again.
    """

    def __init__(
        self, key: bytes | None = None, *, ttl: float = 3600.0, clock: Callable[[], float] = time.time
    ) -> None:
        if key is not None and len(key) < 16:
            raise ValueError("a request-state key needs at least 16 bytes")
        self._key = key or secrets.token_bytes(32)
        self._ttl = ttl
        self._clock = clock

    def seal(
        self, kind: StateKind, value: str, *, audience: str, target: str, ttl: float | None = None
    ) -> str:
        """A state standing for ``value``, valid for ``audience`` retrying ``target`` until it expires."""
        expires = int(self._clock() + (self._ttl if ttl is None else ttl)) + 1
        body = json.dumps({"k": kind, "v": value, "t": target, "x": expires}, separators=(",", ":")).encode()
        encoded = _b64(body)
        return f"{_PREFIX}.{encoded}.{_b64(self._mac(audience, encoded))}"

    def open(self, token: str, *, audience: str, target: str) -> Opened:
        """Verify ``token`` for ``audience`` retrying ``target``.

        Raises:
            RequestStateError: Naming what is wrong: not the hub's, altered or someone else's, another
                request's, or expired.
        """
        if len(token) > _MAX_TOKEN:
            raise RequestStateError(f"request_state is {len(token)} characters long; not one the hub issued")
        prefix, _, rest = token.partition(".")
        encoded, _, mac = rest.partition(".")
        if prefix != _PREFIX or not encoded or not mac:
            raise RequestStateError(
                "request_state is not one the hub issued; pass back the requestState of the "
                "InputRequiredResult unchanged"
            )
        try:
            given = _unb64(mac)
        except ValueError:
            given = b""
        if not hmac.compare_digest(given, self._mac(audience, encoded)):
            # Altered in transit, forged, or issued to another caller: the MAC covers all three alike.
            raise RequestStateError(
                "request_state failed its integrity check: it was altered, issued to another caller, or "
                "issued before the hub or this upstream restarted; send the request again without it"
            )
        try:
            body = json.loads(_unb64(encoded))
            kind, value, bound, expires = body["k"], body["v"], body["t"], body["x"]
        except (ValueError, KeyError, TypeError) as exc:
            # A valid MAC over a malformed body means the key was used for something else: refuse alike.
            raise RequestStateError("request_state has a valid seal but an unreadable body") from exc
        if bound != target:
            raise RequestStateError(f"request_state belongs to {bound!r}, not to {target!r}")
        if self._clock() > expires:
            raise RequestStateError("request_state has expired; send the request again without it")
        if kind not in ("pass", "park") or not isinstance(value, str):
            raise RequestStateError("request_state has a valid seal but an unknown kind")
        return Opened(kind, value)

    def _mac(self, audience: str, encoded: str) -> bytes:
        # The audience is length-prefixed so no (audience, body) pair can pose as another.
        message = f"{len(audience)}:{audience}:{encoded}".encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc
