"""``run --once`` waits for a retry that falls due while it looks: the due query and the
"next retry" question are asked at one instant, so a retry whose time comes between the two
is neither skipped as not due nor forgotten as past (it was left ``retry_wait`` until the
next pass when the second question used a later clock)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from dispatcher.ledger.types import DeliveryStatus
from dispatcher.run.loop import deliver_due
from dispatcher.services.delivery.runner import InProcessRunner
from tests.test_scale_support import Clock, boletin, make_app, make_settings, take_in, utc


class SteppingClock(Clock):
    """Every reading is one second later than the one before: whatever the loop asks
    twice, it gets two instants."""

    def __call__(self) -> datetime:
        now = self.now
        self.advance(seconds=1)
        return now


async def test_a_retry_falling_due_between_the_two_questions_is_still_sent(
    tmp_path: Path,
) -> None:
    clock = SteppingClock(utc(2026, 12, 7, 15))
    app = await make_app(make_settings(tmp_path), clock)
    try:
        item = await take_in(app, boletin(1))
        ledger = app.ledger
        (website,) = [d for d in await ledger.deliveries_for([item.id]) if d.channel == "website"]
        claim = await ledger.claim(website.id, idempotent=True, mode="outbox")
        assert claim is not None
        # the first attempt failed; the retry is due half a second after the next reading
        retry_at = clock.now + timedelta(seconds=0.5)
        await ledger.finish(claim, status="retry_wait", outcome="transient", retry_at=retry_at)

        await deliver_due(app, InProcessRunner(app, owner="test/run"))

        states = {d.channel: d.status for d in await ledger.deliveries_for([item.id])}
        assert states["website"] == DeliveryStatus.SENT
        assert set(states.values()) <= {DeliveryStatus.SENT, DeliveryStatus.WAITING_BULLETIN}
    finally:
        await app.aclose()
