"""One retry backoff for every layer: exponential from ``base``, capped, jittered in
[½·d, d], and never sooner than the service asked."""

from __future__ import annotations

from dispatcher.services.delivery.backoff import backoff


def test_exponential_capped_and_exact_without_jitter() -> None:
    waits = [backoff(n, base=2.0, cap=30.0, jitter=False) for n in range(1, 7)]
    assert waits == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff(0, base=2.0, cap=30.0, jitter=False) == 2.0  # before any attempt


def test_jitter_spreads_waits_within_half_to_full() -> None:
    for attempt, nominal in ((1, 2.0), (3, 8.0), (9, 60.0)):
        draws = [backoff(attempt, base=2.0, cap=60.0) for _ in range(300)]
        assert all(nominal / 2 <= d <= nominal for d in draws)
        assert len(set(draws)) > 250  # spread out, not one instant for every client
        assert min(draws) < nominal * 0.6 and max(draws) > nominal * 0.9


def test_the_services_retry_after_is_a_floor() -> None:
    assert backoff(1, base=2.0, cap=30.0, retry_after=120.0) == 120.0
    assert backoff(1, base=2.0, cap=30.0, retry_after=120.0, jitter=False) == 120.0
    assert backoff(5, base=2.0, cap=30.0, retry_after=0.5, jitter=False) == 30.0
