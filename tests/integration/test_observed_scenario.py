"""A whole scenario as an operator sees it: a password sign-in (failed, locked, succeeded), a
client_credentials token (issued, refused), an API key used on a request, a job run. Its
metrics move by exactly what happened, with no id as a label; and the suite's secret scan
(tests/secret_scan.py), which reads every log record as the JSON line `authward serve` writes,
finds none of the secrets the scenario made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authward.config import Config
from authward.errors import UnauthenticatedError
from authward.jobs import Io, JobClient, RunContext, event_trigger
from authward.observability import metrics
from authward.runtime import Authward
from authward.server.app import build_app
from authward.users.errors import InvalidCredentials, LoginThrottled
from tests.conftest import SettingsFactory
from tests.integration.jobs_support import bind, wait_for
from tests.integration.oauth_support import ORG, TEAM, credentials
from tests.secret_scan import SCAN

PASSWORD = "correct horse battery staple " + "9" * 8
SCRAPER = "scraper-" + "s" * 40


@pytest.fixture
async def aw(
    database_url: str, settings_for: SettingsFactory, example_config: Config
) -> AsyncIterator[Authward]:
    settings = settings_for(database_url, login_account_limit=2, metrics_token=SCRAPER)
    runtime = await Authward.open(example_config, settings, migrate=True)
    yield runtime
    await runtime.close()


def _whoami(aw: Authward) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        try:
            principal = await aw.authenticate_request(request, accepts_token=["api_key"])
        except UnauthenticatedError:
            return JSONResponse({"error": "unauthenticated"}, status_code=401)
        return JSONResponse({"id": principal.principal_id})

    return Starlette(routes=[Route("/whoami", whoami)])


class Counts:
    """Samples before the scenario; ``moved`` is the change since (metrics are per process)."""

    def __init__(self, *samples: tuple[str, dict[str, str]]) -> None:
        self.before = {self._key(n, lb): metrics.sample(n, lb.items()) for n, lb in samples}

    @staticmethod
    def _key(name: str, labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted(labels.items()))

    def moved(self) -> dict[str, float]:
        return {
            f"{n}{dict(lb)}": metrics.sample(n, lb) - before
            for (n, lb), before in self.before.items()
        }


LOGINS = "authward_logins_total"
ISSUED = "authward_tokens_issued_total"
REFUSED = "authward_tokens_refused_total"
VERIFIED = "authward_verifications_total"
RUNS = "authward_job_run_duration_seconds_count"
LIMITED = "authward_rate_limited_total"


async def test_a_scenario_counts_what_happened_and_logs_no_secret(aw: Authward) -> None:
    counts = Counts(
        (LOGINS, {"outcome": "failed"}),
        (LOGINS, {"outcome": "locked"}),
        (LOGINS, {"outcome": "succeeded"}),
        (LIMITED, {"limit": "login"}),
        (ISSUED, {"grant": "client_credentials"}),
        (REFUSED, {"grant": "client_credentials", "reason": "invalid_client"}),
        (REFUSED, {"grant": "other", "reason": "unsupported_grant_type"}),
        (VERIFIED, {"kind": "api_key", "outcome": "valid"}),
        (RUNS, {"job": "observed", "status": "succeeded"}),
    )
    # Sign-in: two wrong passwords lock the account, then the right one after a fresh user.
    await aw.users.create(
        "bob@example.com", PASSWORD, profile={"organization_id": ORG, "team_id": TEAM}
    )
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await aw.users.authenticate("bob@example.com", "wrong " + PASSWORD, ip="10.0.0.1")
    with pytest.raises(LoginThrottled):
        await aw.users.authenticate("bob@example.com", PASSWORD, ip="10.0.0.1")
    await aw.users.create(
        "carol@example.com", PASSWORD, profile={"organization_id": ORG, "team_id": TEAM}
    )
    await aw.users.authenticate("carol@example.com", PASSWORD, ip="10.0.0.2")

    # A job that runs once.
    jobs = JobClient(id="scenario")

    @jobs.job(id="observed", name="Observed", version="1", trigger=event_trigger(name="obs"))
    async def observed(payload: Any, io: Io, ctx: RunContext) -> str:
        return "done"

    await bind(aw, jobs)

    client_id, secret = await credentials(aw, "admin-machine-user")
    key, _ = await aw.api_keys.create("scenario", user_id="user_1", scopes=["reports:read"])
    transport = httpx.ASGITransport(app=build_app(aw, mount=_whoami))
    async with httpx.AsyncClient(transport=transport, base_url=aw.issuer) as http:
        token = await http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        )
        assert token.status_code == 200
        assert "access_token" in token.json()
        wrong = await http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, "not-" + secret),
        )
        assert wrong.status_code == 401
        odd = await http.post("/oauth2/token", data={"grant_type": "user_42_grant"})
        assert odd.status_code == 400
        me = await http.get("/whoami", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200
        run = await wait_for(aw, (await jobs.send_event({"name": "obs", "payload": {}})).run_ids[0])
        assert run.status == "succeeded"
        scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER}"})
    assert scraped.status_code == 200

    assert counts.moved() == {
        f"{LOGINS}{{'outcome': 'failed'}}": 2,
        f"{LOGINS}{{'outcome': 'locked'}}": 1,
        f"{LOGINS}{{'outcome': 'succeeded'}}": 1,
        f"{LIMITED}{{'limit': 'login'}}": 1,
        f"{ISSUED}{{'grant': 'client_credentials'}}": 1,
        f"{REFUSED}{{'grant': 'client_credentials', 'reason': 'invalid_client'}}": 1,
        f"{REFUSED}{{'grant': 'other', 'reason': 'unsupported_grant_type'}}": 1,
        f"{VERIFIED}{{'kind': 'api_key', 'outcome': 'valid'}}": 1,
        f"{RUNS}{{'job': 'observed', 'status': 'succeeded'}}": 1,
    }
    # No id reached a label: the made-up grant type is "other", users and keys are nowhere.
    for text in ("user_42_grant", "user_1", "bob@example.com", client_id, run.id):
        assert text not in scraped.text

    # Every secret of the scenario is known to the scan, which read the access log's JSON lines,
    # and no log line holds one.
    assert any('"route":"/oauth2/token"' in text for _, text in SCAN.texts)
    for made in (PASSWORD, secret, key, token.json()["access_token"]):
        assert made in SCAN.secrets
    assert [str(leak) for leak in SCAN.leaks()] == []
