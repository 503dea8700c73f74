"""Resilience: circuit breakers per upstream, shared state, retries, health checks, draining on shutdown.

``UpstreamGuard`` (one per live upstream) is what the registry attaches; the rest are its parts.
"""

from __future__ import annotations

from hub.resilience.breaker import Breaker, BreakerOpen, BreakerState, BreakerStorage, Transition
from hub.resilience.clock import Clock, ManualClock, Sleep, system_clock, system_sleep
from hub.resilience.drain import Drain, ShuttingDown
from hub.resilience.guard import UpstreamGuard
from hub.resilience.health import HealthCheck, HealthReport
from hub.resilience.mirror import ServerMirror, ServerState
from hub.resilience.retry import RetryCounter, RetryPolicy, counting_retries, is_idempotent, with_retries
from hub.resilience.shared_state import SharedStorage, redis_key

__all__ = [
    "Breaker",
    "BreakerOpen",
    "BreakerState",
    "BreakerStorage",
    "Clock",
    "Drain",
    "HealthCheck",
    "HealthReport",
    "ManualClock",
    "RetryCounter",
    "RetryPolicy",
    "ServerMirror",
    "ServerState",
    "SharedStorage",
    "ShuttingDown",
    "Sleep",
    "Transition",
    "UpstreamGuard",
    "counting_retries",
    "is_idempotent",
    "redis_key",
    "system_clock",
    "system_sleep",
    "with_retries",
]
