"""Schemathesis over the management API's own OpenAPI document, against a real server on
loopback: every operation gets bounded generated requests (valid and invalid), authenticated as
an admin machine user, and no answer may be a server error or differ from what the document
says (status, content type, body schema)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from authward.config import Config
from authward.connections.client import TokenSet
from authward.jobs import Io, JobClient, RunContext, event_trigger
from authward.runtime import Authward
from authward.server.app import build_app
from tests.conftest import SettingsFactory
from tests.integration.jobs_support import bind
from tests.peers.asgi import serve_asgi

PROFILE = {
    "organization_id": "550e8400-e29b-41d4-a716-446655440000",
    "team_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
}
TOKENS = TokenSet(
    access_token="fuzz-developer-token",
    refresh_token=None,
    token_type="Bearer",
    expires_at=None,
    scopes=("read",),
    external_id=None,
)

#: Per operation and generation mode: enough to reach the edges of each schema, and the whole
#: run stays well under a minute on two cores.
EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


def _fuzz(
    document: dict[str, Any], base_url: str, headers: dict[str, str], labels: set[str]
) -> list[str]:
    """Every operation in both generation modes; the failures, one line each. ``labels``
    gets each operation's label."""
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.add(operation.label)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                # Nothing of this operation can be made invalid (no body, no constrained
                # parameter): there is no negative case to send.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup is one
                print(f"--- {operation.label} ({mode.value})\n{exc}")  # the reproduction
                first = str(exc).strip().splitlines()
                failures.append(f"{operation.label} ({mode.value}): {' | '.join(first[:6])}")
    return failures


async def test_the_management_api_answers_as_its_openapi_says(
    postgres_url: str, settings_for: SettingsFactory, example_config: Config
) -> None:
    # Once, on PostgreSQL: the stricter store (it refuses NUL characters in text, which SQLite
    # keeps), so what passes here passes on SQLite too.
    settings = settings_for(postgres_url, admin_machine_users="admin-machine-user")
    aw = await Authward.open(example_config, settings, migrate=True)
    try:
        # Something of each kind, so that lists answer real rows for the schema checks.
        org = await aw.organizations.create("acme", "Acme")
        user = await aw.users.create("ada@example.com", "a long enough password", profile=PROFILE)
        await aw.organizations.add_member(org.id, user.id, "member")
        await aw.api_keys.create("ci", org_id=org.id, scopes=["reports:read"])
        await aw.users.sign_in("ada@example.com", "a long enough password", ip="127.0.0.1")
        await aw.connections.store("", "acme", TOKENS, kind="developer")
        jobs = JobClient(id="fuzz")

        @jobs.job(id="noted", name="noted", version="1", trigger=event_trigger(name="noted"))
        async def noted(payload: Any, io: Io, ctx: RunContext) -> None:
            return None

        await bind(aw, jobs, worker=False)  # runs stay queued: the lists show them as they are
        await jobs.send_event({"name": "noted", "payload": {"n": 1}}, account_id="acct-1")
        headers = {"Authorization": f"Bearer {await aw.machine_user_token('admin-machine-user')}"}
        labels: set[str] = set()
        async with serve_asgi(build_app(aw)) as site, httpx.AsyncClient() as http:
            document = (await http.get(f"{site}/v1/openapi.json")).json()
            runs = (await http.get(f"{site}/v1/runs", headers=headers)).json()
            assert [r["job_id"] for r in runs["items"]] == ["noted"]
            failures = await asyncio.to_thread(_fuzz, document, f"{site}/v1", headers, labels)
    finally:
        await aw.close()
    assert failures == [], "\n".join(failures)
    # Every resource of the API was fuzzed (issue 17): a sample of each one's operations.
    assert {
        "GET /users",
        "POST /users",
        "POST /users/{user_id}/disable",
        "PUT /users/{user_id}/password",
        "GET /clients/{name}",
        "POST /clients/{name}/secret",
        "GET /machine-users",
        "GET /api-keys/{key_id}",
        "GET /organizations/{org}/members",
        "GET /sessions/{session_id}",
        "DELETE /connections/{connection_id}",
        "GET /audit-events",
        "GET /registered-clients/{client_id}",
        "GET /jobs",
        "GET /runs",
    } <= labels
