"""Intake: validation (nothing written on bad input), codes, routing, events, deadlines, photos."""

from __future__ import annotations

import pytest
from sqlmodel import select

from backend.errors import DomainError, Forbidden, InvalidInput
from backend.models import Photo, ReportEvent, State
from backend.services.events import Actor
from backend.services.reports import intake
from backend.text import fold

from fixtures.wf_city import INSIDE, INSIDE_NO_AREA, OUTSIDE, T0, City, city_fixture, counts  # noqa: F401


def create(city: City, **overrides):
    args = {"channel": "app", "actor": city.resident(), "category_code": "pothole",
            "description": "Ổ gà lớn trước số 12 Tràng Tiền", "lat": INSIDE[0], "lon": INSIDE[1], "at": T0}
    args.update(overrides)
    return intake.create_report(city.session, **args)


def kinds(session, report) -> list[str]:
    rows = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id).order_by(ReportEvent.id))
    return [e.kind for e in rows]


def test_report_is_created_routed_and_has_deadlines(session, city: City) -> None:
    before = counts(session)
    report = create(city)
    after = counts(session)
    assert after["reports"] == before["reports"] + 1
    assert after["outbox"] > before["outbox"]  # follow-up work is in the same transaction
    assert report.code.startswith("PA-") and len(report.code) == 9
    assert report.status == State.ASSIGNED
    assert report.unit_id == city.units["roads"].id  # category default unit
    assert report.area_id == city.area.id
    assert report.resident_id == city.residents[0].id
    assert report.version == 1
    assert report.ack_due_at is not None and report.ack_due_at > report.created_at
    assert report.resolve_due_at is not None and report.resolve_due_at > report.created_at
    assert report.routed_at == T0
    assert kinds(session, report)[:2] == ["created", "routed"]
    routed = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id,
                                                    ReportEvent.kind == "routed")).one()
    assert routed.to_unit_id == city.units["roads"].id
    assert routed.from_state == State.RECEIVED and routed.to_state == State.ASSIGNED
    assert routed.data["is_triage"] is False


def test_rule_for_category_and_area_wins(city: City) -> None:
    report = create(city, category_code="lamp")
    assert report.unit_id == city.units["ward"].id
    assert report.status == State.ASSIGNED


def test_category_without_rule_or_default_goes_to_triage(city: City) -> None:
    report = create(city, category_code="lamp", lat=INSIDE_NO_AREA[0], lon=INSIDE_NO_AREA[1])
    assert report.unit_id == city.units["ioc"].id
    assert report.status == State.TRIAGE
    assert report.area_id is None


def test_no_category_goes_to_triage(session, city: City) -> None:
    report = create(city, category_code=None)
    assert report.status == State.TRIAGE
    assert report.unit_id == city.units["ioc"].id
    assert report.category_id is None
    routed = session.exec(select(ReportEvent).where(ReportEvent.kind == "routed")).one()
    assert routed.data["is_triage"] is True
    assert report.ack_due_at is not None


def test_typed_address_without_point_goes_to_triage(city: City) -> None:
    report = create(city, lat=None, lon=None, address="Số 5 phố Hàng Bài, Hoàn Kiếm")
    assert report.status == State.TRIAGE
    assert report.area_id is None
    assert report.lat is None and report.address == "Số 5 phố Hàng Bài, Hoàn Kiếm"


def test_search_text_is_folded(city: City) -> None:
    report = create(city, address="Phố Tràng Tiền")
    assert report.search_text == fold(f"{report.code} {report.description} Phố Tràng Tiền "
                                      "Ổ gà, hư hỏng mặt đường pothole")
    assert "o ga" in report.search_text and report.code.lower() in report.search_text


def test_category_priority_default_is_used(city: City) -> None:
    assert create(city, category_code="trash").priority == "urgent"


def test_codes_are_unique(city: City) -> None:
    assert len({create(city).code for _ in range(20)}) == 20


def test_photos_of_the_caller_are_attached(session, city: City) -> None:
    ids = [city.photo(), city.photo()]
    report = create(city, photo_ids=ids)
    photos = session.exec(select(Photo).where(Photo.report_id == report.id)).all()
    assert sorted(p.id for p in photos) == sorted(ids)
    assert all(p.role == "report" for p in photos)


def test_bot_files_for_a_resident(city: City) -> None:
    photo = city.photo()
    report = create(city, channel="zalo", actor=Actor.bot("zalo"), resident_id=city.residents[0].id,
                    photo_ids=[photo])
    assert report.resident_id == city.residents[0].id and report.channel == "zalo"


def test_staff_may_file_with_own_photo(city: City) -> None:
    photo = city.photo(staff="officer")
    report = create(city, channel="staff", actor=city.actor("officer"), photo_ids=[photo])
    assert report.resident_id is None


def test_attributes_and_external_ref_are_kept(city: City) -> None:
    report = create(city, channel="open311", actor=Actor.system("open311"), attributes={"size": "large", "n": 2},
                    external_ref="ext-1", is_anonymous=True)
    assert report.attributes == {"size": "large", "n": 2}
    assert report.external_ref == "ext-1" and report.is_anonymous


# --------------------------------------------------------------------------- bad input writes nothing


BAD = [
    ({"lat": OUTSIDE[0], "lon": OUTSIDE[1]}, InvalidInput, "outside-city"),
    ({"category_code": "no-such"}, InvalidInput, "unknown-category"),
    ({"category_code": "old"}, InvalidInput, "unknown-category"),
    ({"category_code": "fire"}, InvalidInput, "emergency-category"),
    ({"description": "x" * 4001}, InvalidInput, "description-too-long"),
    ({"lat": None, "lon": None}, InvalidInput, "location-required"),
    ({"lat": INSIDE[0], "lon": None}, InvalidInput, "invalid-location"),
    ({"lat": float("nan"), "lon": INSIDE[1]}, InvalidInput, "invalid-location"),
    ({"lat": 123.0, "lon": INSIDE[1]}, InvalidInput, "invalid-location"),
    ({"lat": "21.0", "lon": INSIDE[1]}, InvalidInput, "invalid-location"),
    ({"lat": True, "lon": INSIDE[1]}, InvalidInput, "invalid-location"),
    ({"channel": "fax"}, InvalidInput, "invalid-channel"),
    ({"description": 42}, InvalidInput, "invalid-description"),
    ({"description": "a\x00b"}, InvalidInput, "invalid-description"),
    ({"address": "x" * 501}, InvalidInput, "address-too-long"),
    ({"accuracy_m": -1}, InvalidInput, "invalid-accuracy"),
    ({"attributes": ["x"]}, InvalidInput, "invalid-attributes"),
    ({"attributes": {"a": {"nested": 1}}}, InvalidInput, "invalid-attributes"),
    ({"external_ref": "x" * 200}, InvalidInput, "invalid-external-ref"),
    ({"photo_ids": [999999]}, InvalidInput, "unknown-photo"),
    ({"photo_ids": ["1"]}, InvalidInput, "invalid-photo-ids"),
    ({"photo_ids": [2**70]}, InvalidInput, "invalid-photo-ids"),
    ({"photo_ids": "1,2"}, InvalidInput, "invalid-photo-ids"),
    ({"actor": Actor.bot("zalo"), "resident_id": 2**70}, InvalidInput, "invalid-resident"),
    ({"photo_ids": list(range(1, 12))}, InvalidInput, "too-many-photos"),
    ({"category_code": None, "description": "  ", "photo_ids": []}, InvalidInput, "empty-report"),
    ({"address": "Số 1\x00"}, InvalidInput, "invalid-address"),
    ({"category_code": "pot\x00hole"}, InvalidInput, "unknown-category"),
    ({"category_code": "x" * 1000}, InvalidInput, "unknown-category"),
    ({"attributes": {"a\x00": 1}}, InvalidInput, "invalid-attributes"),
    ({"attributes": {"a": "b\x00"}}, InvalidInput, "invalid-attributes"),
    ({"external_ref": "e\x00"}, InvalidInput, "invalid-external-ref"),
    ({"resident_id": 999}, Forbidden, "resident-mismatch"),
    ({"actor": Actor.bot("zalo"), "resident_id": 999}, InvalidInput, "unknown-resident"),
    ({"actor": Actor.bot("zalo"), "resident_id": "1"}, InvalidInput, "invalid-resident"),
]


@pytest.mark.parametrize(("overrides", "error", "code"), BAD)
def test_bad_input_raises_and_writes_nothing(session, city: City, overrides, error, code) -> None:
    before = counts(session)
    with pytest.raises(error) as info:
        create(city, **overrides)
    assert info.value.code == code
    assert info.value.message and any(ch in info.value.message for ch in "ăâđêôơưáàảãạếệốộ")
    assert counts(session) == before


def test_emergency_category_gives_the_hotline(session, city: City) -> None:
    with pytest.raises(InvalidInput) as info:
        create(city, category_code="fire")
    assert info.value.details["hotline"] == "114"
    assert "114" in info.value.message


def test_foreign_photo_is_refused_and_nothing_attached(session, city: City) -> None:
    mine, theirs = city.photo(resident=0), city.photo(resident=1)
    before = counts(session)
    with pytest.raises(Forbidden) as info:
        create(city, photo_ids=[mine, theirs])
    assert info.value.code == "foreign-photo"
    assert counts(session) == before
    assert session.get(Photo, mine).report_id is None


def test_photo_already_on_another_report_is_refused(session, city: City) -> None:
    photo = city.photo()
    create(city, photo_ids=[photo])
    before = counts(session)
    with pytest.raises(DomainError) as info:
        create(city, photo_ids=[photo])
    assert info.value.code == "photo-already-attached"
    assert counts(session) == before


def test_staff_photo_is_foreign_to_a_resident(session, city: City) -> None:
    photo = city.photo(staff="officer")
    with pytest.raises(Forbidden):
        create(city, photo_ids=[photo])


def test_rejected_photo_is_refused_and_the_others_stay_free(session, city: City) -> None:
    mine, bad = city.photo(), city.photo()
    session.get(Photo, bad).state = "rejected"
    session.flush()
    before = counts(session)
    with pytest.raises(InvalidInput) as info:
        create(city, photo_ids=[mine, bad])
    assert info.value.code == "photo-rejected" and info.value.details == {"photo_id": bad}
    assert counts(session) == before
    session.expire_all()
    assert session.get(Photo, mine).report_id is None


def test_refused_photo_inside_a_savepoint_then_the_caller_carries_on(session, city: City) -> None:
    """A caller that goes on after a refusal (the Zalo conversation) finds nothing written and its own
    photo free: a second try without the foreign photo attaches it."""
    mine, theirs = city.photo(resident=0), city.photo(resident=1)
    before = counts(session)
    with pytest.raises(Forbidden) as info, session.begin_nested():
        create(city, photo_ids=[mine, theirs])
    assert info.value.code == "foreign-photo"
    assert counts(session) == before
    assert session.get(Photo, mine).report_id is None
    report = create(city, photo_ids=[mine])
    session.commit()
    session.expire_all()
    assert session.get(Photo, mine).report_id == report.id
    assert session.get(Photo, theirs).report_id is None


def test_staff_naming_an_unknown_resident_is_refused(session, city: City) -> None:
    """Only a resident acting for themself skips the lookup; staff naming a reporter are checked."""
    before = counts(session)
    with pytest.raises(InvalidInput) as info:
        create(city, channel="staff", actor=city.actor("officer"), resident_id=987654)
    assert info.value.code == "unknown-resident"
    assert counts(session) == before


def test_events_come_back_with_ids_and_their_jobs(session, city: City) -> None:
    """``submit`` returns its events with ids (the 201 body, the push after commit) and one notify job
    for each notifiable event, pointing at it."""
    from backend.models.outbox import Outbox

    new = intake.submit(city.session, channel="app", actor=city.resident(), category_code="pothole",
                        description="Ổ gà", lat=INSIDE[0], lon=INSIDE[1], at=T0)
    stored = session.exec(select(ReportEvent).where(ReportEvent.report_id == new.report.id)
                          .order_by(ReportEvent.id)).all()
    assert [(e.id, e.kind, e.at, e.data) for e in new.events] == [(e.id, e.kind, e.at, e.data) for e in stored]
    jobs = session.exec(select(Outbox).where(Outbox.job_name == "handlers.notifications.notify_event")).all()
    assert sorted(j.args["event_id"] for j in jobs) == [e.id for e in stored if e.kind in ("created", "routed")]


def test_description_at_the_limit_is_accepted(city: City) -> None:
    assert len(create(city, description="đ" * 4000).description) == 4000


# --------------------------------------------------------------------------- the demo city pack


def test_every_demo_category_is_routed_with_deadlines(session, demo_city) -> None:
    from backend.models import Area, Category
    from backend.services.city import routing

    routing.clear_cache()
    area = session.exec(select(Area).order_by(Area.code)).first()
    ring = area.geometry["coordinates"][0]
    lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
    lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    categories = session.exec(select(Category).where(Category.active == True)).all()  # noqa: E712
    assert categories
    for category in categories:
        kwargs = {"channel": "zalo", "actor": Actor.bot("zalo"), "category_code": category.code,
                  "description": "Phản ánh thử", "lat": lat, "lon": lon, "at": T0}
        if category.is_emergency:
            with pytest.raises(InvalidInput) as info:
                intake.create_report(session, **kwargs)
            assert info.value.code == "emergency-category" and info.value.details["hotline"]
            continue
        report = intake.create_report(session, **kwargs)
        assert report.status in (State.ASSIGNED, State.TRIAGE)
        assert report.area_id == area.id
        assert report.ack_due_at > report.created_at and report.resolve_due_at > report.created_at
    with pytest.raises(InvalidInput) as info:
        intake.create_report(session, **{**kwargs, "category_code": None, "lat": 21.03, "lon": 105.85})
    assert info.value.code == "outside-city"
