"""Retry backoff, once for every layer: deliveries, mail recipients and connections, the
bot's start-up.

Exponential from ``base`` (doubling per attempt, capped at ``cap``) with jitter: the wait
is drawn from [½·d, d], so many clients failing together (a service back from an outage)
do not all come back at the same instant, and none waits less than half the nominal time.
A service that says how long to wait (``Retry-After``, Telegram's ``retry_after``) is never
asked again sooner.
"""

from __future__ import annotations

import random


def backoff(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    jitter: bool = True,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next.

    ``base`` is the first wait, doubled per attempt up to ``cap``; with ``jitter`` the wait
    is drawn from [½·d, d]; never less than ``retry_after`` when the service gave one."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    if jitter:
        delay = random.uniform(delay / 2, delay)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
