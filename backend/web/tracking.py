"""The public report page ``/r/<code>`` (every notification links to it), its JSON feed
``/r/<code>.json``, the code lookup ``/r/?code=…`` and the reporter's forms.

Anyone sees the public model (``reports.public_report``: no reporter identity, no internal notes).
With the reporter's signed token (``?t=…``, made by ``reports.reporter_link``, checked by
``reports.reporter_of``) the same page also offers: add information (text + optional photo through the
photo pipeline), rate the result, reopen — the mobile API's own ``reports.apply`` actions with the same
rules. A forged, expired or other-report token changes nothing. Pages with a token are never cached.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from backend import http
from backend.db import request_session
from backend.errors import DomainError, Forbidden, InvalidInput, NotFound
from backend.http import mark_rollback
from backend.models import Report
from backend.models.base import utcnow
from backend.services import photos, reports
from backend.services.events import Actor
from backend.web.public import POST_LIMIT, TOKEN_FIRST, bp, cacheable, check_csrf, error_page, locale, private

#: the longest comment or reason a resident may type here (the workflow applies its own limits too)
MAX_TEXT = 2000


def _settings() -> Any:
    return http.settings()


def _model(code: str) -> reports.PublicReport:
    return reports.public_report(request_session(), code, now=utcnow(), storage=photos.get_storage(_settings()),
                                 locale=locale())


def _absolute(path: str | None) -> str | None:
    return f"{_settings().base_url.rstrip('/')}{path}" if path else None


def _reporter(model: reports.PublicReport, token: str | None) -> tuple[int | None, str | None]:
    """(resident id, refusal message) for ``token`` on this report; (None, None) without a token."""
    if not token:
        return None, None
    session = request_session()
    report = reports.find_public(session, model.code)
    try:
        return reports.reporter_of(report, token, secret_key=_settings().secret_key,
                                   max_days=_settings().reporter_link_days), None
    except Forbidden as exc:
        return None, exc.message


@bp.get("/r/")
def lookup() -> Any:
    """``/r/?code=pa-me6ybg`` → ``/r/PA-ME6YBG`` (accents, case and spaces forgiven)."""
    typed = (request.args.get("code") or "").strip()
    if not typed:
        return cacheable(error_page(404, _("Nhập mã phản ánh (ví dụ PA-7K3M9Q) để tra cứu.")))
    try:
        report = reports.find_public(request_session(), typed)
    except NotFound:
        return cacheable(error_page(404, _("Không tìm thấy phản ánh có mã “%(code)s”. Vui lòng kiểm tra lại mã.",
                                           code=typed[:40]), code=typed[:40]))
    return redirect(url_for("web_public.report_page", code=report.code), code=303)


@bp.get("/r/<code>.json")
def report_json(code: str) -> Any:
    try:
        model = _model(code)
    except NotFound:
        return http.problem(404, "not-found", "Không tìm thấy phản ánh với mã này.")
    resp = jsonify(model.as_json())
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return cacheable(resp)


@bp.get("/r/<code>")
def report_page(code: str) -> Any:
    token = request.args.get("t")
    try:
        model = _model(code)
    except NotFound:
        return cacheable(error_page(404, _("Không tìm thấy phản ánh có mã “%(code)s”. Mã có thể đã bị gõ sai.",
                                           code=code[:40]), code=code[:40]))
    if model.code != code:  # a lowercase or spaced code typed by hand: one canonical address
        return redirect(url_for("web_public.report_page", code=model.code, t=token or None), code=301)
    resident_id, refusal = _reporter(model, token)
    html = render_template("web/public/report.html", r=model, token=token if resident_id else None,
                           show_flashes=bool(token),
                           refusal=refusal, can=_abilities(model, resident_id),
                           og_image=_absolute((model.photos_after or model.photos_before or [None])[-1]),
                           page_url=_absolute(url_for("web_public.report_page", code=model.code)))
    resp = Response(html)
    return private(resp) if token else cacheable(resp)


def _abilities(model: reports.PublicReport, resident_id: int | None) -> dict[str, bool]:
    if resident_id is None:
        return {"comment": False, "rate": False, "reopen": False}
    open_ = model.is_open
    return {"comment": open_ or model.status == "resolved",
            "rate": model.status == "resolved" and model.rating is None,
            "reopen": model.reopen_until is not None and utcnow() <= model.reopen_until}


# --------------------------------------------------------------------------- the reporter's forms


def _token_holder(code: str) -> tuple[Report, int]:
    """The report and the reporter the posted token was made for; Forbidden otherwise. Then CSRF."""
    report = reports.find_public(request_session(), code)
    resident_id = reports.reporter_of(report, request.form.get("t"), secret_key=_settings().secret_key,
                                      max_days=_settings().reporter_link_days)
    check_csrf()
    return report, resident_id


def _act(action: str, code: str, build: Any) -> Response:
    """Check the token (and CSRF), read the form, apply ``action`` as the reporter through the workflow
    (the mobile API's rules), back to the page with a message. Any refusal changes nothing."""
    try:
        report, resident_id = _token_holder(code)
    except Forbidden as exc:
        mark_rollback()
        return private(error_page(403, exc.message))
    try:
        fields = build()
        if action == "comment":
            fields["photo_ids"] = _upload(resident_id)
        reports.apply(request_session(), report, action, actor=Actor.resident(resident_id), **fields)
    except DomainError as exc:
        mark_rollback()
        flash(exc.message, "error")
    else:
        flash(DONE[action], "ok")
    return private(redirect(url_for("web_public.report_page", code=report.code, t=request.form.get("t"))
                            + "#hanh-dong", code=303))


DONE = {"comment": "Đã gửi thông tin bổ sung đến đơn vị xử lý.", "rate": "Cảm ơn Quý công dân đã đánh giá.",
        "reopen": "Đã gửi phản ánh lại; đơn vị xử lý sẽ tiếp tục giải quyết."}


def _text(name: str, *, required: bool) -> str | None:
    value = (request.form.get(name) or "").strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"Nội dung quá dài (tối đa {MAX_TEXT} ký tự).", code="too-long")
    if required and not value:
        raise InvalidInput("Vui lòng nhập nội dung.", code="required")
    return value or None


def _upload(resident_id: int) -> list[int]:
    """The optional photo of a comment, through the photo pipeline (validated now, processed later)."""
    upload = request.files.get("photo")
    if upload is None or not upload.filename:
        return []
    settings = _settings()
    data = upload.read(settings.max_upload_bytes + 1)
    photo = photos.accept_upload(request_session(), data=data, storage=photos.get_storage(settings),
                                 resident_id=resident_id, role="report", max_bytes=settings.max_upload_bytes)
    return [photo.id]


@bp.post("/r/<code>/comment")
@http.limiter.shared_limit(POST_LIMIT, scope="resident-forms")
def comment(code: str) -> Any:
    return _act("comment", code, lambda: {"text": _text("text", required=True)})


@bp.post("/r/<code>/rate")
@http.limiter.shared_limit(POST_LIMIT, scope="resident-forms")
def rate(code: str) -> Any:
    def build() -> dict[str, Any]:
        raw = (request.form.get("rating") or "").strip()
        if raw not in ("1", "2", "3", "4", "5"):
            raise InvalidInput("Vui lòng chọn số sao từ 1 đến 5.", code="invalid-rating")
        fields: dict[str, Any] = {"rating": int(raw)}
        text = _text("text", required=False)
        if text:
            fields["text"] = text
        return fields

    return _act("rate", code, build)


@bp.post("/r/<code>/reopen")
@http.limiter.shared_limit(POST_LIMIT, scope="resident-forms")
def reopen(code: str) -> Any:
    return _act("reopen", code, lambda: {"reason": _text("reason", required=True)})


TOKEN_FIRST.update({"web_public.comment", "web_public.rate", "web_public.reopen"})
