"""``authward apikey create|list|revoke`` as a user runs them, on the embedded SQLite store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from authward.errors import TokenError
from tests.e2e.conftest import opened_store
from tests.e2e.test_serve_and_cli import cli


async def _verify(workdir: Path, secret: str) -> tuple[str, str | None]:
    """What the key verifies as, in a process of our own on the same store."""
    async with opened_store(workdir) as aw:
        try:
            auth = await aw.api_keys.verify(secret)
            return "ok", auth.org_id
        except TokenError as exc:
            return exc.reason, None


def test_create_list_revoke(workdir: Path, env: dict[str, str]) -> None:
    org = json.loads(cli(["org", "create", "org-7", "--json"], workdir, env).stdout)
    created = json.loads(
        cli(
            ["apikey", "create", "deploy bot", "--org", "org-7", "--scope", "deploy", "--json"],
            workdir,
            env,
        ).stdout
    )
    secret = created["key"]
    assert secret.startswith("ak_")
    assert created["hint"] == secret[-4:]
    assert created["org_id"] == org["id"]  # named by its slug, recorded by its id
    assert created["user_id"] is None
    assert created["scopes"] == ["deploy"]
    assert created["expires_at"] is None
    assert asyncio.run(_verify(workdir, secret)) == ("ok", org["id"])
    by_slug = json.loads(cli(["apikey", "list", "--org", "org-7", "--json"], workdir, env).stdout)
    assert [r["id"] for r in by_slug] == [created["id"]]

    plain = cli(
        ["apikey", "create", "laptop", "--user", "u-1", "--expires-in", "3600"], workdir, env
    )
    [user_secret] = plain.stdout.splitlines()
    assert user_secret.startswith("ak_")
    assert "shown only once" in plain.stderr

    listed = cli(["apikey", "list", "--json"], workdir, env).stdout
    assert secret not in listed
    assert user_secret not in listed
    rows = json.loads(listed)
    assert [(r["name"], r["hint"], r["status"]) for r in rows] == [
        ("deploy bot", secret[-4:], "active"),
        ("laptop", user_secret[-4:], "active"),
    ]
    assert rows[1]["expires_at"] is not None
    assert [
        r["name"]
        for r in json.loads(cli(["apikey", "list", "--user", "u-1", "--json"], workdir, env).stdout)
    ] == ["laptop"]
    human = cli(["apikey", "list"], workdir, {**env, "COLUMNS": "200"}).stdout
    assert secret not in human
    assert "deploy bot" in human
    assert f"ak_…{secret[-4:]}" in human

    revoked = cli(["apikey", "revoke", created["id"]], workdir, env)
    assert f"revoked API key {created['id']}" in revoked.stdout
    assert asyncio.run(_verify(workdir, secret)) == ("api-key-revoked", None)
    again = cli(["apikey", "revoke", created["id"]], workdir, env)
    assert "already revoked" in again.stdout

    assert [
        r["name"] for r in json.loads(cli(["apikey", "list", "--json"], workdir, env).stdout)
    ] == ["laptop"]
    everything = json.loads(cli(["apikey", "list", "--all", "--json"], workdir, env).stdout)
    assert [(r["name"], r["status"]) for r in everything] == [
        ("deploy bot", "revoked"),
        ("laptop", "active"),
    ]

    with sqlite3.connect(workdir / "authward.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert secret[3:-6] not in dump
    assert user_secret[3:-6] not in dump


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["apikey", "create", "x"], "error: an API key belongs to exactly one owner"),
        (
            ["apikey", "create", "x", "--user", "u", "--org", "o"],
            "error: an API key belongs to exactly one owner",
        ),
        (
            ["apikey", "create", "x", "--user", "u", "--scope", "a b"],
            "error: scopes: 'a b' is not a scope",
        ),
        (
            ["apikey", "create", "x", "--org", "org_nope"],
            "error: --org: no organization 'org_nope' (give an existing organization's id or slug",
        ),
        (["apikey", "revoke", "nope"], "error: 'nope' is not an API key id"),
        (
            ["apikey", "revoke", "00000000-0000-0000-0000-000000000001"],
            "error: no API key 00000000-0000-0000-0000-000000000001",
        ),
    ],
)
def test_apikey_mistakes_are_one_line(
    workdir: Path, env: dict[str, str], args: list[str], message: str
) -> None:
    result = cli(args, workdir, env, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
