"""Login throttling against real `authward serve` processes (issue 13, items 8 and 9).

- Two processes on one PostgreSQL database: a burst of concurrent wrong passwords split across
  both reaches argon2id at most the account's limit times in all, and the right password right
  after is refused too (the attempt is counted before the hash, in the shared store).
- From a loopback peer, a new ``X-Forwarded-For`` per request does not escape the per-address
  limit, unless ``AUTHWARD_TRUSTED_PROXIES`` names the peer as a proxy.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path

import httpx
import pytest

from tests.e2e.serving import servers
from tests.e2e.test_two_servers import USERNAME, prepare_store

PASSWORD = "login-limits-" + secrets.token_hex(8)


def _environment(database_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHWARD_")}
    return env | {
        "AUTHWARD_DATABASE_URL": database_url,
        "AUTHWARD_SECRET_KEY": secrets.token_urlsafe(32),
        **{f"AUTHWARD_{k.upper()}": v for k, v in settings.items()},
    }


async def _login_form(c: httpx.AsyncClient) -> str:
    """The CSRF token of the login page (its cookie stays in ``c``)."""
    page = await c.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


async def _attempts(
    url: str, passwords: list[str], usernames: list[str] | None = None, **headers: str
) -> list[int]:
    """POST /login once per password, all at once; the status codes."""
    async with httpx.AsyncClient(base_url=url, timeout=120) as c:
        csrf = await _login_form(c)
        names = usernames or [USERNAME] * len(passwords)
        answers = await asyncio.gather(
            *(
                c.post(
                    "/login",
                    data={"csrf_token": csrf, "username": name, "password": password},
                    headers={k.replace("_", "-"): v for k, v in headers.items()},
                )
                for name, password in zip(names, passwords, strict=True)
            )
        )
    return [a.status_code for a in answers]


def test_concurrent_wrong_passwords_at_two_servers_reach_the_hash_at_most_the_limit(
    postgres_url: str, tmp_path: Path
) -> None:
    env = _environment(postgres_url, login_account_limit="5")
    prepare_store(tmp_path, env, PASSWORD)
    with servers(tmp_path, env, 2) as urls:

        async def burst() -> list[int]:
            guesses = [f"wrong guess {n}" for n in range(30)]
            a, b = urls
            split = await asyncio.gather(_attempts(a, guesses[::2]), _attempts(b, guesses[1::2]))
            return split[0] + split[1]

        statuses = asyncio.run(burst())
        assert sorted(set(statuses)) == [401, 429]
        assert statuses.count(401) == 5, statuses  # the guesses that reached argon2id
        for url in urls:
            [right] = asyncio.run(_attempts(url, [PASSWORD]))
            assert right == 429


@pytest.mark.parametrize("trusted", [False, True])
def test_forwarded_addresses_count_only_from_a_trusted_proxy(trusted: bool, tmp_path: Path) -> None:
    settings = {"login_address_limit": "3"}
    if trusted:
        settings["trusted_proxies"] = "127.0.0.1,::1"
    env = _environment(f"sqlite+aiosqlite:///{tmp_path / 'authward.db'}", **settings)
    prepare_store(tmp_path, env, PASSWORD)
    with servers(tmp_path, env, 1) as [url]:
        statuses = []
        for n in range(6):
            # A new forwarded address and a new account for each guess.
            [status] = asyncio.run(
                _attempts(
                    url, ["wrong guess"], [f"user{n}@example.com"], x_forwarded_for=f"192.0.2.{n}"
                )
            )
            statuses.append(status)
        # Through a trusted proxy, six addresses each failed once; otherwise one address (the
        # peer) failed three times and was locked.
        assert statuses == ([401] * 6 if trusted else [401, 401, 401, 429, 429, 429])
        same = [
            asyncio.run(
                _attempts(url, ["wrong guess"], ["bob@example.com"], x_forwarded_for="192.0.2.99")
            )[0]
            for _ in range(4)
        ]
        assert same == [401, 401, 401, 429] if trusted else [429] * 4
