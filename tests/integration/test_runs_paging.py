"""``GET /v1/runs`` pages like every list of the management API (decision 052): newest first,
keyset cursors on (created_at, id), its filters kept across pages, and a cursor it did not write
refused; the dashboard's runs page follows the same cursors. On SQLite and PostgreSQL; the runs
stay queued (no worker), several at the same instant, so the id alone orders them there."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from html import unescape
from typing import Any, NamedTuple

import httpx
import pytest

from authward.config import Config
from authward.jobs import Io, JobClient, RunContext, event_trigger
from authward.runtime import Authward
from authward.server import dashboard
from authward.server.app import build_app
from tests.conftest import SettingsFactory
from tests.integration.jobs_support import FakeClock, bind
from tests.integration.test_jobs_tools import ADA, sign_in, text_of


def paging_client() -> JobClient:
    client = JobClient(id="paging")

    for job_id in ("ping", "pong"):

        @client.job(id=job_id, name=job_id, version="1", trigger=event_trigger(name=job_id))
        async def never_executed(payload: Any, io: Io, ctx: RunContext) -> None:
            return None

    return client


class Listing(NamedTuple):
    aw: Authward
    http: httpx.AsyncClient
    #: The management API's admin.
    headers: dict[str, str]
    #: The nine runs' ids, newest first.
    newest_first: list[str]


@pytest.fixture
async def web(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Listing]:
    """Nine queued runs: three instants with three runs each (two ``ping`` runs of ``acct_a``
    and a ``pong`` of ``acct_b``)."""
    settings = settings_for(
        database_url, admin_machine_users="admin-machine-user", dashboard_users=ADA
    )
    aw = await Authward.open(example_config, settings, migrate=True)
    try:
        clock = FakeClock()
        await bind(aw, paging_client(), clock=clock, worker=False)
        for _ in range(3):
            for name, account in (("ping", "acct_a"), ("ping", "acct_a"), ("pong", "acct_b")):
                await aw.jobs.send_event({"name": name}, account_id=account)
            clock.advance(1)
        newest_first = [r.id for r in await aw.jobs.list_runs(limit=100)]
        assert len(newest_first) == 9
        headers = {"Authorization": f"Bearer {await aw.machine_user_token('admin-machine-user')}"}
        transport = httpx.ASGITransport(app=build_app(aw))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield Listing(aw, http, headers, newest_first)
    finally:
        await aw.close()


async def _all_pages(
    http: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = await http.get("/v1/runs", params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_pages_walk_every_run_once_newest_first(
    web: Listing,
) -> None:
    _, http, headers, newest_first = web
    pages = await _all_pages(http, headers, limit="2")

    assert [len(p) for p in pages] == [2, 2, 2, 2, 1]
    runs = [r for page in pages for r in page]
    assert [r["id"] for r in runs] == newest_first
    created = [r["created_at"] for r in runs]
    assert created == sorted(created, reverse=True)
    # Within one instant the id decides, so a page boundary inside it loses nothing.
    assert len({r["created_at"] for r in pages[0] + pages[1]}) == 2
    whole = await http.get("/v1/runs", params={"limit": "9"}, headers=headers)
    assert whole.json()["next_cursor"] is None


async def test_filters_hold_across_pages(
    web: Listing,
) -> None:
    _, http, headers, _ = web
    pings = [r for page in await _all_pages(http, headers, job_id="ping", limit="4") for r in page]
    assert len(pings) == 6
    assert {(r["job_id"], r["account_id"]) for r in pings} == {("ping", "acct_a")}

    pages = await _all_pages(http, headers, account_id="acct_b", status="queued", limit="1")
    assert [[r["job_id"] for r in p] for p in pages] == [["pong"], ["pong"], ["pong"]]

    assert await _all_pages(http, headers, status="succeeded") == [[]]


def _forged(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).rstrip(b"=").decode()


async def test_a_cursor_it_did_not_write_is_refused(
    web: Listing,
) -> None:
    _, http, headers, _ = web
    first = (await http.get("/v1/runs", params={"limit": "2"}, headers=headers)).json()
    jobs_page = (await http.get("/v1/jobs", params={"limit": "1"}, headers=headers)).json()
    assert jobs_page["next_cursor"] is not None

    for cursor in (
        jobs_page["next_cursor"],  # another list's
        _forged("runs", "yesterday", "run_x"),  # not a time
        _forged("runs", "2026-01-05T09:00:00", "run_x"),  # a time without its zone
        _forged("runs", 1, "run_x"),
        _forged("runs", "2026-01-05T09:00:00+00:00"),
        "bm90IGEgY3Vyc29y",
    ):
        refused = await http.get("/v1/runs", params={"cursor": cursor}, headers=headers)
        assert refused.status_code == 400, (cursor, refused.text)
        assert refused.json()["error"] == "invalid_request"
    # A runs cursor is not one of another list either.
    other = await http.get("/v1/jobs", params={"cursor": first["next_cursor"]}, headers=headers)
    assert (other.status_code, other.json()["error"]) == (400, "invalid_request")
    # Over the page size is a shape error, as everywhere.
    assert (await http.get("/v1/runs", params={"limit": "201"}, headers=headers)).status_code == 422


async def test_the_dashboard_pages_runs_by_the_same_cursor(
    web: Listing, monkeypatch: pytest.MonkeyPatch
) -> None:
    aw, http, _, newest_first = web
    monkeypatch.setattr(dashboard, "PAGE_RUNS", 4)  # nine runs are three pages of four
    await sign_in(aw, http, ADA)

    def runs_on(page: httpx.Response) -> list[str]:
        return re.findall(r'href="/dashboard/runs/(run_[0-9a-f]+)"', page.text)

    def link(page: httpx.Response, label: str) -> str | None:
        found = re.search(rf'<a href="([^"]+)"[^>]*>{re.escape(label)}</a>', page.text)
        return unescape(found.group(1)) if found else None

    seen: list[str] = []
    page = await http.get("/dashboard")
    assert link(page, "⇤ First page") is None
    while (following := link(page, "Next →")) is not None:
        seen += runs_on(page)
        page = await http.get(following)
        assert page.status_code == 200
        assert link(page, "⇤ First page") == "/dashboard?"
    seen += runs_on(page)
    assert seen == newest_first

    # The filters stay on every page's links.
    first = await http.get("/dashboard", params={"job_id": "ping"})
    following = link(first, "Next →")
    assert following is not None
    assert "job_id=ping" in following
    pings = runs_on(first) + runs_on(await http.get(following))
    assert pings == [r.id for r in await aw.jobs.list_runs(job_id="ping")]
    assert len(pings) == 6

    # A link that is not a page's is refused, and says so.
    refused = await http.get("/dashboard", params={"cursor": "bm90IGEgY3Vyc29y"})
    assert refused.status_code == 400
    assert "not a link to a page of runs" in text_of(refused)
    assert runs_on(refused) == []
