"""Send-once under re-dispatch (issue 21, finding 8): the same bot-reply job runs twice at the same time (an
RQ retry and the relay's re-dispatch), against real commits and the fake Zalo API whose first send is slow.

Before: job A claimed reply 1 and committed (which also freed the outbox row), job B ran meanwhile and sent
reply 2, then A — still holding reply 2 as "pending" from its own earlier read — sent it again; the record
showed one attempt. Now a claim is one conditional UPDATE with an attempt id: each reply reaches Zalo once,
and the record counts the attempts that really went out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import select

from backend import queue
from backend.app import create_app
from backend.models import Delivery, Identity, InboundMessage, Outbox, Resident, SendState
from backend.models.base import utcnow

from fakes import zalo as fz

USER = "u-send-once"


class _Holding:
    """A broker that keeps what it is given (the test runs the job itself, twice)."""

    def push(self, row: Any) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def fake_zalo() -> Iterator[fz.FakeZalo]:
    fake = fz.FakeZalo().start()
    yield fake
    fake.stop()


def test_a_reply_job_run_twice_at_once_sends_each_reply_once(live_db, settings, fake_zalo):
    zalo = {"zalo_app_id": fz.APP_ID, "zalo_app_secret": fz.APP_SECRET, "zalo_oa_secret_key": fz.OA_SECRET_KEY,
            "zalo_access_token": "at-initial", "zalo_refresh_token": "rt-initial", "zalo_api_base": fake_zalo.base,
            "zalo_oauth_base": fake_zalo.base, "zalo_media_hosts": fake_zalo.host}
    app = create_app(settings.model_copy(update=zalo), database=live_db, runner=_Holding())
    with live_db.session_scope() as session:
        resident = Resident(display_name="Người dân")
        session.add(resident)
        session.flush()  # the user wrote just now: the free customer-service window is open
        session.add(Identity(resident_id=resident.id, provider="zalo", subject=USER, last_interaction_at=utcnow()))
        inbound = InboundMessage(channel="zalo", external_id="m-send-once", event_name="user_send_text",
                                 external_user_id=USER, payload={}, received_at=utcnow(), processed_at=utcnow())
        session.add(inbound)
        session.flush()
        for n, text in enumerate(("Trả lời thứ nhất", "Trả lời thứ hai")):
            session.add(Delivery(dedupe_key=f"zalo:inbound:{inbound.id}:{n}", recipient_kind="resident",
                                 channel="zalo", target=USER, template="chat_reply", body=text,
                                 payload={"inbound_id": inbound.id}))
        job = Outbox(job_name="handlers.inbound.process_inbound", args={"inbound_id": inbound.id}, queue="bot",
                     dispatched_at=utcnow())
        session.add(job)
        session.flush()
        job_id = job.id
    fake_zalo.fail("/v3.0/oa/message/cs", delay=1.5)  # the first reply takes a while to go out

    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                queue.execute(job_id)
        except BaseException as exc:  # noqa: BLE001 - RetryLater of the copy that found a claim in flight
            errors.append(exc)

    first = threading.Thread(target=run)
    first.start()
    time.sleep(0.7)  # A has claimed reply 1 and is waiting on Zalo
    second = threading.Thread(target=run)  # the re-dispatched copy
    second.start()
    first.join(30)
    second.join(30)

    texts = fake_zalo.texts(USER)
    assert sorted(texts) == ["Trả lời thứ hai", "Trả lời thứ nhất"], texts
    with live_db.session() as session:
        rows = session.exec(select(Delivery).order_by(Delivery.id)).all()
        assert [(r.send_state, r.attempts) for r in rows] == [(SendState.SENT, 1), (SendState.SENT, 1)]
    assert all(type(e).__name__ == "RetryLater" for e in errors), errors
