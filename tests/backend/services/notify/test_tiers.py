"""The Zalo delivery policy as data: the city pack's ``zalo_delivery`` setting, the tier by age, the back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.errors import InvalidInput
from backend.services.city import loading as cities
from backend.services.city import messaging
from backend.services.city import settings as city_settings
from backend.services.notify import tiers

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
POLICY = messaging.parse({"zns_templates": {"resolved": "300001"}})


def _choose(hours_ago: float | None, *, phone: str | None = "84912345678", kind: str = "resolved",
            policy: messaging.ZaloPolicy = POLICY, chat: bool = False) -> tiers.Choice:
    last = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    return tiers.choose(policy, kind=kind, last_interaction_at=last, now=NOW, phone=phone, chat=chat)


@pytest.mark.parametrize(("hours", "tier"), [(0, "cs_free"), (47.9, "cs_free"), (48, "cs_free"), (48.01, "cs_paid"),
                                             (72, "cs_paid"), (168, "cs_paid"), (168.01, "zns"), (24 * 30, "zns"),
                                             (None, "zns")])
def test_zalos_published_windows_are_the_default(hours, tier):
    assert _choose(hours).tier == tier


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=24 * 60), st.booleans(), st.booleans())
def test_the_tier_follows_the_age_table(hours, has_phone, has_template):
    """Oracle: the table of docs/zalo.md, written out plainly."""
    policy = POLICY if has_template else messaging.ZaloPolicy()
    choice = _choose(hours, phone="84912345678" if has_phone else None, policy=policy)
    if hours <= 48:
        expected = ("cs_free", "")
    elif hours <= 168:
        expected = ("cs_paid", "")
    elif not has_template:
        expected = (None, "outside-window-no-zns-template")
    elif not has_phone:
        expected = (None, "outside-window-no-phone")
    else:
        expected = ("zns", "")
    assert (choice.tier, choice.reason) == expected


def test_a_city_can_narrow_the_windows_and_a_chat_reply_never_goes_by_zns():
    strict = messaging.parse({"free_window_hours": 24, "paid_window_hours": 24, "zns_templates": {"resolved": "1"}})
    assert _choose(23, policy=strict).tier == "cs_free" and _choose(25, policy=strict).tier == "zns"
    assert _choose(200, chat=True) == tiers.Choice(None, "outside-interaction-window")
    assert _choose(200, kind="routed").reason == "outside-window-no-zns-template"


def test_template_data_maps_parameters_and_cuts_to_length():
    template = messaging.parse({"zns_templates": {"reply": {"template_id": "9", "params": {
        "ma": "code", "noi_dung": "content"}}}}).zns_templates["reply"]
    data = tiers.zns_data(template, {"code": "PA-7K3M9Q", "content": "  dài\n" + "x" * 300, "unit": "bỏ"})
    assert data == {"ma": "PA-7K3M9Q", "noi_dung": ("dài " + "x" * 300)[:200]}
    assert tiers.zns_data(template, {"code": None, "content": ""}) == {"ma": "-", "noi_dung": "-"}


def test_quota_back_off_and_night_ban():
    created = NOW - timedelta(hours=1)
    delays = [tiers.retry_delay(attempts=n, created_at=created, now=NOW) for n in range(1, 11)]
    assert delays[:4] == [timedelta(minutes=m) for m in (15, 30, 60, 120)] and delays[-1] == timedelta(hours=24)
    assert tiers.retry_delay(attempts=1, created_at=NOW - timedelta(days=2, minutes=1), now=NOW) is None
    night = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)  # 23:30 in Vietnam
    assert tiers.retry_delay(attempts=1, created_at=night, now=night, night_ban=True) == timedelta(hours=6, minutes=31)


@pytest.mark.parametrize("value", [
    "48", [48], {"free_window_hours": -1}, {"free_window_hours": 200}, {"paid_window_hours": 169},
    {"free_window_hours": 100, "paid_window_hours": 50}, {"free_window_hours": True}, {"other": 1},
    {"zns_templates": ["300001"]}, {"zns_templates": {"khong-co": "1"}}, {"zns_templates": {"resolved": ""}},
    {"zns_templates": {"resolved": "1 2"}}, {"zns_templates": {"resolved": {"id": "1"}}},
    {"zns_templates": {"resolved": {"template_id": "1", "params": {"ma": "phone"}}}},
    {"zns_templates": {"resolved": {"template_id": "1", "params": {"1x": "code"}}}},
    {"zns_templates": {"resolved": {"template_id": "1", "params": {}}}},
])
def test_bad_policies_are_refused_by_the_city_pack_in_vietnamese(session: Any, value: Any):
    pack = {"units": [{"code": "ioc", "name_vi": "Trung tâm điều hành", "kind": "ioc", "is_triage": True}],
            "settings": {"zalo_delivery": value}}
    with pytest.raises(InvalidInput) as exc:
        cities.load_city_pack(session, pack)
    assert "settings.zalo_delivery" in exc.value.message
    assert city_settings.get(session, "zalo_delivery") is None


def test_a_good_policy_loads_from_the_city_pack(session: Any):
    pack = {"units": [{"code": "ioc", "name_vi": "Trung tâm điều hành", "kind": "ioc", "is_triage": True}],
            "settings": {"zalo_delivery": {"free_window_hours": 24, "zns_templates": {
                "resolved": 300001,
                "rejected": {"template_id": "300009", "params": {"ma": "code", "ly_do": "content"}}}}}}
    cities.load_city_pack(session, pack)
    policy = city_settings.zalo_policy(session)
    assert policy.free_window == timedelta(hours=24) and policy.paid_window == timedelta(days=7)
    assert policy.zns_templates["resolved"].template_id == "300001"
    assert dict(policy.zns_templates["resolved"].params) == {f: f for f in messaging.ZNS_FIELDS}
    assert dict(policy.zns_templates["rejected"].params) == {"ma": "code", "ly_do": "content"}
