"""A FixMyStreet-like Open311 sender and updates puller, written from mySociety's published code.

Models what ``mysociety/fixmystreet`` does over HTTP (see ``docs/open311.md`` §1 for the files and
commit read): it sends problems (``Open311::send_service_request``), posts its users' comments
(``Open311::PostServiceRequestUpdates`` + ``_populate_service_request_update_params``) and pulls the
council's updates (``Open311::GetServiceRequestUpdates`` + ``UpdatesBase::_process_update``). It
keeps its own problems, comments and states, so a test can compare them with ours. Nothing here
knows our code: it speaks HTTP to a live server, in XML (as FixMyStreet does) or JSON.

Simplifications: times are kept to the second (as FixMyStreet formats and compares them in W3C
form); response templates, cobrand hooks, assigned users and category changes are left out.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import requests

#: XML::Simple ``GroupTags``/``ForceArray`` of ``Open311::_get_xml_object``: these children are lists
GROUP_TAGS = {"services": "service", "attributes": "attribute", "values": "value", "service_requests": "request",
              "errors": "error", "service_request_updates": "request_update", "groups": "group"}

OPEN_STATES = ("confirmed", "investigating", "in progress", "planned", "action scheduled")
CLOSED_STATES = ("unable to fix", "not responsible", "duplicate", "internal referral", "cancelled", "closed")
FIXED_STATES = ("fixed", "fixed - council", "fixed - user")
VISIBLE_STATES = OPEN_STATES + CLOSED_STATES + FIXED_STATES


def w3c(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def parse_xml(body: bytes) -> dict[str, Any]:
    """XML::Simple with the group tags forced to lists, the root dropped, empty elements as None."""
    return _element(ET.fromstring(body))  # noqa: S314 - the server under test


def _element(element: ET.Element) -> Any:
    children = list(element)
    if not children:
        return element.text if element.text not in (None, "") else None
    out: dict[str, Any] = {}
    for child in children:
        value = _element(child)
        if GROUP_TAGS.get(element.tag) == child.tag or child.tag in GROUP_TAGS.values():
            out.setdefault(child.tag, []).append(value)
        elif child.tag in out:
            previous = out[child.tag]
            out[child.tag] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[child.tag] = value
    return out


@dataclass
class Comment:
    id: int
    problem: Problem
    text: str
    user: str  # "public" (a resident on FixMyStreet) or "council" (imported from the server)
    name: str = ""
    email: str | None = None
    problem_state: str | None = None
    mark_open: bool = False
    confirmed: datetime = field(default_factory=now)
    external_id: str | None = None
    state: str = "confirmed"  # or "hidden"
    send_state: str = "unprocessed"  # "sent", "processed"
    photo_urls: list[str] = field(default_factory=list)


@dataclass
class Problem:
    id: int
    title: str
    detail: str
    category: str
    lat: float
    lon: float
    name: str
    email: str
    state: str = "confirmed"
    external_id: str | None = None
    lastupdate: datetime = field(default_factory=now)
    comments: list[Comment] = field(default_factory=list)

    def visible_comments(self) -> list[Comment]:
        return [c for c in self.comments if c.state == "confirmed"]


class FixMyStreet:
    """One FixMyStreet body configured to send to ``endpoint`` (``send_comments`` on)."""

    def __init__(self, endpoint: str, *, api_key: str, jurisdiction: str, fmt: str = "xml",
                 extended_statuses: bool = True, mark_reopen: bool = False,
                 base_url: str = "https://fms.example.org") -> None:
        self.endpoint = endpoint.rstrip("/") + "/"
        self.api_key, self.jurisdiction, self.fmt = api_key, jurisdiction, fmt
        self.extended_statuses, self.mark_reopen, self.base_url = extended_statuses, mark_reopen, base_url
        self.problems: list[Problem] = []
        self._ids = itertools.count(101)
        self.errors: list[str] = []

    # ------------------------------------------------------------------ HTTP (Open311::_request)

    def _request(self, method: str, path: str, params: dict[str, Any]) -> tuple[bool, Any]:
        params = {k: v for k, v in params.items() if v is not None}
        if self.jurisdiction:
            params["jurisdiction_id"] = self.jurisdiction
        if method == "POST" and self.api_key:
            params["api_key"] = self.api_key
        url = self.endpoint + path
        if method == "GET":
            resp = requests.get(url, params=params, timeout=10)
        else:
            resp = requests.post(url, data=params, timeout=10)
        body = self._parse(resp.content)
        if not resp.ok:
            self.errors.append(f"{method} {path}: {resp.status_code} {self._error_text(body)}")
            return False, body
        return True, body

    def _parse(self, content: bytes) -> Any:
        if self.fmt == "xml":
            return parse_xml(content)
        return json.loads(content)

    def _items(self, body: Any, container: str) -> list[dict[str, Any]]:
        """The list under ``container`` (XML: the group tag's children; JSON: the bare array)."""
        if self.fmt == "xml":
            return (body or {}).get(GROUP_TAGS[container]) or []
        if isinstance(body, dict):  # a wrapped object, as open311-adapter answers
            return body.get(container) or []
        return body or []

    def _error_text(self, body: Any) -> str:
        return "; ".join(f"{e.get('code')}: {e.get('description')}" for e in self._items(body, "errors")
                         if isinstance(e, dict))

    # ------------------------------------------------------------------ residents on FixMyStreet

    def report(self, *, title: str, detail: str, category: str, lat: float, lon: float, name: str,
               email: str) -> Problem:
        problem = Problem(next(self._ids), title, detail, category, lat, lon, name, email)
        self.problems.append(problem)
        return problem

    def comment(self, problem: Problem, text: str, *, name: str, email: str | None,
                mark_fixed: bool = False, mark_open: bool = False) -> Comment:
        """A resident's update on the site; the reporter may mark the problem fixed or not fixed."""
        if mark_fixed:
            problem.state = "fixed - user"
        elif mark_open and problem.state in FIXED_STATES + CLOSED_STATES:
            problem.state = "confirmed"
        comment = Comment(next(self._ids), problem, text, "public", name, email,
                          problem_state=problem.state if (mark_fixed or mark_open) else None, mark_open=mark_open)
        problem.comments.append(comment)
        problem.lastupdate = comment.confirmed
        return comment

    # ------------------------------------------------------------------ sending problems

    def send_reports(self) -> int:
        """``SendReport::Open311``: each unsent problem once; ``external_id`` = the returned id."""
        sent = 0
        for problem in self.problems:
            if problem.external_id:
                continue
            first, _, last = problem.name.partition(" ")
            params = {"service_code": problem.category, "first_name": first, "last_name": last,
                      "email": problem.email, "lat": problem.lat, "long": problem.lon,
                      "description": f"{problem.title}\n\n{problem.detail}\n\n"
                                     f"{self.base_url}/report/{problem.id}\n"}
            ok, body = self._request("POST", f"requests.{self.fmt}", params)
            items = self._items(body, "service_requests") if ok else []
            if items and items[0].get("service_request_id"):
                problem.external_id = items[0]["service_request_id"]
                sent += 1
        return sent

    # ------------------------------------------------------------------ sending comments

    def status_for(self, comment: Comment) -> str:
        """``_populate_service_request_update_params``: the problem's state as a status word."""
        state = comment.problem_state or comment.problem.state
        if not self.extended_statuses:
            return "OPEN" if state in OPEN_STATES else "CLOSED"
        words = {"in progress": "IN_PROGRESS", "action scheduled": "ACTION_SCHEDULED",
                 "planned": "ACTION_SCHEDULED", "investigating": "INVESTIGATING", "duplicate": "DUPLICATE",
                 "not responsible": "NOT_COUNCILS_RESPONSIBILITY", "unable to fix": "NO_FURTHER_ACTION",
                 "internal referral": "INTERNAL_REFERRAL", "for triage": "FOR_TRIAGE", "closed": "CLOSED",
                 "cancelled": "CANCELLED"}
        if state in FIXED_STATES:
            return "FIXED"
        if state in words:
            return words[state]
        if comment.mark_open and self.mark_reopen:
            return "REOPEN"
        return "OPEN"

    def send_comments(self) -> int:
        """``PostServiceRequestUpdates::process_body``: unsent public comments, oldest first."""
        sent = 0
        pending = sorted((c for p in self.problems if p.external_id for c in p.comments
                          if c.user == "public" and c.send_state == "unprocessed" and c.state == "confirmed"),
                         key=lambda c: (c.confirmed, c.id))
        for comment in pending:
            first, _, last = comment.name.partition(" ")
            params = {"updated_datetime": w3c(comment.confirmed),
                      "service_request_id": comment.problem.external_id, "status": self.status_for(comment),
                      "description": comment.text, "first_name": first, "last_name": last or "-",
                      "email": comment.email, "update_id": comment.id,
                      "media_url": comment.photo_urls[0] if comment.photo_urls else None}
            ok, body = self._request("POST", f"servicerequestupdates.{self.fmt}", params)
            items = self._items(body, "service_request_updates") if ok else []
            if items and items[0].get("update_id"):
                comment.external_id = str(items[0]["update_id"])
                comment.send_state = "sent"
                sent += 1
        return sent

    # ------------------------------------------------------------------ pulling updates

    def fetch_comments(self, *, start: datetime | None = None, end: datetime | None = None) -> int:
        """``GetServiceRequestUpdates``: the last two hours by default; returns comments created.

        The default end is the next second: FixMyStreet's run asks up to its "now" in whole seconds, and
        the tests run it right after the city's updates, which may lie in the current second.
        """
        end = end or now() + timedelta(seconds=1)
        start = start or end - timedelta(hours=2)
        args = (w3c(start), w3c(end))
        ok, body = self._request("GET", f"servicerequestupdates.{self.fmt}",
                                 {"api_key": self.api_key, "start_date": args[0], "end_date": args[1]})
        if not ok:
            return 0
        created = 0
        for request in self._items(body, "service_request_updates"):
            if not request.get("update_id"):
                continue
            problem = self._find_problem(request, args)
            if problem is None:
                continue
            if any(c.external_id == str(request["update_id"]) for c in problem.comments):
                continue
            self._process_update(request, problem)
            created += 1
        return created

    def _find_problem(self, request: dict[str, Any], args: tuple[str, str]) -> Problem | None:
        """``UpdatesBase::find_problem`` with ``check_date`` (the update must lie in the window)."""
        try:
            moment = datetime.fromisoformat(str(request.get("updated_datetime")).replace("Z", "+00:00"))
        except ValueError:
            return None
        updated = w3c(moment)
        if updated < args[0] or updated > args[1]:
            return None
        request["comment_time"] = moment.astimezone(UTC)
        return next((p for p in self.problems if p.external_id == request.get("service_request_id")), None)

    @staticmethod
    def map_state(status: str, *, extended: bool = True) -> str:
        incoming = status.lower().replace("_", " ")
        mapping = {"fixed": "fixed - council", "not councils responsibility": "not responsible",
                   "no further action": "unable to fix", "open": "confirmed",
                   "closed": "closed" if extended else "fixed - council"}
        return mapping.get(incoming, incoming)

    def _process_update(self, request: dict[str, Any], problem: Problem) -> Comment:
        """``UpdatesBase::_process_update``: a council comment; the problem's state if it makes sense."""
        state = self.map_state(str(request.get("status") or ""), extended=self.extended_statuses)
        if state == "unchanged":
            state = problem.state
        old_state = problem.state
        text = request.get("description") or ""
        comment = Comment(next(self._ids), problem, text, "council", "Council", None,
                          confirmed=request["comment_time"], external_id=str(request["update_id"]),
                          send_state="processed")
        media = request.get("media_url")
        comment.photo_urls = [media] if isinstance(media, str) and media else []
        if state in VISIBLE_STATES and not (problem.state in FIXED_STATES and state in FIXED_STATES):
            comment.problem_state = state
            first_comment = not problem.comments
            if problem.state != state and (comment.confirmed >= problem.lastupdate or first_comment):
                problem.state = state
        latest = next((c for c in reversed(problem.visible_comments()) if c.user == "council"), None)
        text_change = bool(comment.text) and (latest is None or latest.text != comment.text)
        photo_change = bool(comment.photo_urls) and (latest is None or latest.photo_urls != comment.photo_urls)
        state_change = comment.problem_state is not None and state != old_state
        if not (text_change or photo_change or state_change):
            comment.state = "hidden"
        if comment.confirmed > problem.lastupdate:
            problem.lastupdate = comment.confirmed
        problem.comments.append(comment)
        return comment
