"""The console's declared clients and machine users (issue 17): when each last got a token
(batched, forward-only) and secret rotation, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from authlib.integrations.base_client.errors import OAuthError

from authward.runtime import Authward
from authward.store.last_use import LastUseStore
from tests.integration.oauth_support import authlib_client, credentials
from tests.integration.test_console import ADMIN, _client, _signed_in, aw, csrf_of

__all__ = ["aw"]  # the fixture, shared with test_console

MACHINE = "admin-machine-user"


def _row(page: str, name: str) -> str:
    found = re.search(rf"<tr><td>{re.escape(name)}</td>.*?</tr>", page)
    assert found, page
    return found.group(0)


async def _token(aw: Authward, client_id: str, secret: str) -> dict[str, str]:
    async with authlib_client(aw, client_id, secret) as oc:
        return dict(
            await oc.fetch_token(aw.issuer + "/oauth2/token", grant_type="client_credentials")
        )


async def test_a_token_request_moves_last_use_after_the_flush(aw: Authward) -> None:
    client_id, secret = await credentials(aw, MACHINE)
    async with _client(aw) as web:
        await _signed_in(aw, web, ADMIN)
        assert '<td class="nw">–</td>' in _row((await web.get("/console/clients")).text, MACHINE)
        await _token(aw, client_id, secret)
        await aw.last_uses.flush()
        used = (await aw.machine_users.get(MACHINE)).last_used_at  # type: ignore[union-attr]
        assert used is not None
        shown = _row((await web.get("/console/clients")).text, MACHINE)
        assert f"{used:%Y-%m-%d %H:%M}Z" in shown
    # Forward only: another process's older use does not move it back.
    await LastUseStore(aw.engine).record_uses({("machine_user", client_id): used - timedelta(1)})
    assert (await aw.machine_users.get(MACHINE)).last_used_at == used  # type: ignore[union-attr]
    # The other machine user got no token: still never used.
    assert (await aw.machine_users.get("readonly-machine-user")).last_used_at is None  # type: ignore[union-attr]


async def test_console_rotates_a_machine_users_secret(aw: Authward) -> None:
    client_id, old = await credentials(aw, MACHINE)
    async with _client(aw) as web:
        admin_id, _ = await _signed_in(aw, web, ADMIN)
        page = await web.get("/console/clients")
        action = f"/console/machine-users/{MACHINE}/secret"
        assert f'action="{action}"' in page.text
        forged = await web.post(action, data={"csrf_token": "forged"})
        assert forged.status_code == 403
        assert (await credentials(aw, MACHINE))[1] == old  # nothing changed
        rotated = await web.post(action, data={"csrf_token": csrf_of(page)})
        assert rotated.status_code == 200
        assert rotated.headers["cache-control"] == "no-store"
        new = re.search(r'<pre id="new-secret">([^<]+)</pre>', rotated.text)
        assert new is not None
        assert new.group(1) != old
        assert (await credentials(aw, MACHINE))[1] == new.group(1)
        # Shown once: the page after does not carry it.
        assert new.group(1) not in (await web.get("/console/clients")).text
        missing = await web.post(
            "/console/clients/no-such-client/secret", data={"csrf_token": csrf_of(page)}
        )
        assert missing.status_code == 404
    with pytest.raises(OAuthError) as refused:
        await _token(aw, client_id, old)
    assert refused.value.error == "invalid_client"
    assert (await _token(aw, client_id, new.group(1)))["access_token"]
    events = await aw.audit.page(before=None, limit=10, kind="machine_user.secret_rotated")
    assert [(e.event.actor, e.event.subject) for e in events] == [(admin_id, MACHINE)]
