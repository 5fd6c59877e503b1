"""The admin page of the month's Zalo messages per unit, checked against a plain recount of the rows."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

from sqlmodel import select

from backend.models import Delivery, Report, Unit

VN = ZoneInfo("Asia/Ho_Chi_Minh")
ROW = re.compile(r'<tr><th scope="row">([^<]+)</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td><strong>(\d+)'
                 r"</strong></td></tr>")


def _rows(html: str) -> dict[str, tuple[int, ...]]:
    body = html.split("<tfoot>", 1)[0]
    return {unescape(m.group(1)): tuple(int(g) for g in m.groups()[1:]) for m in ROW.finditer(body)}


def _deliveries(session, city) -> list[Delivery]:
    """Zalo deliveries around the turn of November 2026 (Vietnam time), on several units' reports."""
    reports = session.exec(select(Report).where(Report.code.in_(list(city.reports.values())))).all()
    rnd = random.Random(17)
    start = datetime(2026, 10, 31, 10, 0, tzinfo=UTC)  # 17:00 in Hà Nội; the month ends 7 hours later
    rows = []
    for n in range(120):
        sent_at = start + timedelta(hours=rnd.randrange(0, 24 * 32))
        rows.append(Delivery(dedupe_key=f"bill-{n}", report_id=rnd.choice(reports).id, recipient_kind="resident",
                             channel=rnd.choice(["zalo", "zalo", "zalo", "fcm"]), target=f"z{n}", template="resolved",
                             tier=rnd.choice(["cs_free", "cs_paid", "zns", None]),
                             send_state=rnd.choice(["sent", "sent", "sent", "undeliverable"]), sent_at=sent_at))
    session.add_all(rows)
    session.commit()
    return rows


def _recount(session, rows: list[Delivery], year: int, month: int) -> dict[str, tuple[int, ...]]:
    """The oracle: every row looked at one by one."""
    units = {u.id: u.name_vi for u in session.exec(select(Unit)).all()}
    by: dict[str, Counter] = {}
    for d in rows:
        local = d.sent_at.astimezone(VN)
        if d.channel != "zalo" or d.send_state != "sent" or d.tier is None or (local.year, local.month) != (year,
                                                                                                        month):
            continue
        by.setdefault(units[session.get(Report, d.report_id).unit_id], Counter())[d.tier] += 1
    return {name: (c["cs_free"], c["cs_paid"], c["zns"], c["cs_paid"] + c["zns"]) for name, c in by.items()}


def test_the_months_paid_messages_per_unit(session, city, login_as):
    rows = _deliveries(session, city)
    client = login_as("admin")
    for year, month in ((2026, 10), (2026, 11), (2026, 12)):
        page = client.get(f"/admin/zalo?month={year}-{month:02d}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        expected = _recount(session, rows, year, month)
        assert _rows(html) == expected
        if expected:
            totals = tuple(sum(v[i] for v in expected.values()) for i in range(4))
            assert _rows(html.split("<tfoot>", 1)[1].replace("<tfoot>", "")) == {"Tổng cộng": totals}
        else:
            assert "Không có tin nhắn Zalo nào trong tháng này." in html
    assert "Tin nhắn Zalo gửi người dân" in html and "miễn phí trong 48 giờ" in html


def test_bad_month_is_a_vietnamese_400_and_staff_other_than_admins_are_refused(session, city, login_as):
    client = login_as("admin")
    for bad in ("2026-13", "abc", "2026-1", "99999-01", "1999-12", "2026-11-05", "'; drop table x"):
        resp = client.get("/admin/zalo", query_string={"month": bad})
        assert resp.status_code == 400 and "Tháng không hợp lệ" in resp.get_data(as_text=True)
    assert client.get("/admin/zalo").status_code == 200  # this month by default
    assert login_as("officer").get("/admin/zalo").status_code == 403


def test_the_reason_a_zalo_delivery_was_not_sent_reads_in_vietnamese(session, city, login_as):
    session.add(Delivery(dedupe_key="why-1", recipient_kind="resident", channel="zalo", target="z1",
                         template="resolved", send_state="undeliverable", last_error="outside-window-no-phone",
                         payload={"code": "PA-WHY001"}))
    session.commit()
    html = login_as("admin").get("/admin/deliveries").get_data(as_text=True)
    assert "PA-WHY001" in html and "chưa chia sẻ số điện thoại" in html and "outside-window-no-phone" not in html
