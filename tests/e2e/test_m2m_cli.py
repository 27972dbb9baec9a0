"""``authward machine create|list|revoke`` and ``authward m2m create|list|revoke`` as a user runs
them, on the embedded SQLite store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from authward.errors import TokenError
from tests.e2e.conftest import opened_store
from tests.e2e.test_serve_and_cli import cli


async def _verify(workdir: Path, token: str, machine_secret_key: str) -> tuple[str, str | None]:
    """What the token verifies as at that machine, in a process of our own on the same store."""
    async with opened_store(workdir) as aw:
        try:
            auth = await aw.m2m_tokens.verify(token, machine_secret_key)
            return "ok", str(auth.to_principal().attributes.get("role"))
        except TokenError as exc:
            return exc.reason, None


def test_machines_and_m2m_tokens(workdir: Path, env: dict[str, str]) -> None:
    cli(["migrate"], workdir, env)  # writes the config's machine users (decision 035)
    billing = json.loads(
        cli(
            ["machine", "create", "billing", "--scope", "invoices:read", "--json"], workdir, env
        ).stdout
    )
    billing_key = billing["machine_secret_key"]
    assert billing_key.startswith("msk_")
    assert billing["id"].startswith("mch_")
    assert billing["scopes"] == ["invoices:read"]
    assert billing["status"] == "active"

    plain = cli(["machine", "create", "search"], workdir, env)
    [search_key] = plain.stdout.splitlines()
    assert search_key.startswith("msk_")
    assert "shown only once" in plain.stderr

    listed = cli(["machine", "list", "--json"], workdir, env).stdout
    assert billing_key not in listed
    assert search_key not in listed
    assert [(m["name"], m["status"]) for m in json.loads(listed)] == [
        ("billing", "active"),
        ("search", "active"),
    ]
    human = cli(["machine", "list"], workdir, {**env, "COLUMNS": "200"}).stdout
    assert "billing" in human
    assert billing["id"] in human
    assert billing_key not in human

    created = json.loads(
        cli(
            [
                "m2m",
                "create",
                "admin-machine-user",
                "--audience",
                "billing",
                "--scope",
                "invoices:read",
                "--expires-in",
                "3600",
                "--json",
            ],
            workdir,
            env,
        ).stdout
    )
    token = created["token"]
    assert token.startswith("mt_")
    assert created["hint"] == token[-4:]
    assert created["machine_user"] == "admin-machine-user"
    assert created["audience"] == [{"id": billing["id"], "name": "billing"}]
    assert created["scopes"] == ["invoices:read"]
    assert created["expires_at"] is not None
    assert asyncio.run(_verify(workdir, token, billing_key)) == ("ok", "ADMIN")
    assert asyncio.run(_verify(workdir, token, search_key)) == ("m2m-wrong-machine", None)

    plain_token = cli(
        ["m2m", "create", "readonly-machine-user", "--audience", "search", "--audience", "billing"],
        workdir,
        env,
    )
    [reader_token] = plain_token.stdout.splitlines()
    assert reader_token.startswith("mt_")
    assert "shown only once" in plain_token.stderr
    assert asyncio.run(_verify(workdir, reader_token, search_key)) == ("ok", "READER")

    tokens = cli(["m2m", "list", "--json"], workdir, env).stdout
    assert token not in tokens
    assert reader_token not in tokens
    assert [(t["machine_user"], t["hint"], t["status"]) for t in json.loads(tokens)] == [
        ("admin-machine-user", token[-4:], "active"),
        ("readonly-machine-user", reader_token[-4:], "active"),
    ]
    human = cli(["m2m", "list"], workdir, {**env, "COLUMNS": "250"}).stdout
    assert f"mt_…{token[-4:]}" in human
    assert token not in human

    revoked = cli(["m2m", "revoke", created["id"]], workdir, env)
    assert f"revoked M2M token {created['id']}" in revoked.stdout
    assert asyncio.run(_verify(workdir, token, billing_key)) == ("m2m-revoked", None)
    assert "already revoked" in cli(["m2m", "revoke", created["id"]], workdir, env).stdout
    assert [t["hint"] for t in json.loads(cli(["m2m", "list", "--json"], workdir, env).stdout)] == [
        reader_token[-4:]
    ]
    assert len(json.loads(cli(["m2m", "list", "--all", "--json"], workdir, env).stdout)) == 2

    assert "revoked machine search" in cli(["machine", "revoke", "search"], workdir, env).stdout
    assert asyncio.run(_verify(workdir, reader_token, search_key)) == (
        "machine-secret-invalid",
        None,
    )
    assert asyncio.run(_verify(workdir, reader_token, billing_key)) == ("ok", "READER")
    assert "already revoked" in cli(["machine", "revoke", "search"], workdir, env).stdout
    assert [
        m["name"] for m in json.loads(cli(["machine", "list", "--json"], workdir, env).stdout)
    ] == ["billing"]
    everything = json.loads(cli(["machine", "list", "--all", "--json"], workdir, env).stdout)
    assert [(m["name"], m["status"]) for m in everything] == [
        ("billing", "active"),
        ("search", "revoked"),
    ]

    with sqlite3.connect(workdir / "authward.db") as conn:
        dump = "\n".join(conn.iterdump())
    for secret in (billing_key, search_key):
        assert secret[4:-6] not in dump
    for secret in (token, reader_token):
        assert secret[3:-6] not in dump


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["machine", "create", "has space"], "error: name: 'has space' is not a machine name"),
        (["machine", "revoke", "nowhere"], "error: no machine 'nowhere'"),
        (["m2m", "create", "admin-machine-user"], "error: name at least one machine"),
        (
            ["m2m", "create", "admin-machine-user", "--audience", "nowhere"],
            "error: audience: no machine 'nowhere'",
        ),
        (
            ["m2m", "create", "nobody", "--audience", "billing"],
            "error: machine_user: no machine user 'nobody'",
        ),
        (
            ["m2m", "create", "admin-machine-user", "--audience", "billing", "--scope", "a b"],
            "error: scopes: 'a b' is not a scope",
        ),
        (["m2m", "revoke", "nope"], "error: token_id: 'nope' is not an M2M token id"),
        (
            ["m2m", "revoke", "00000000-0000-0000-0000-000000000001"],
            "error: no M2M token 00000000-0000-0000-0000-000000000001",
        ),
    ],
)
def test_m2m_mistakes_are_one_line(
    workdir: Path, env: dict[str, str], args: list[str], message: str
) -> None:
    cli(["machine", "create", "billing"], workdir, env)
    result = cli(args, workdir, env, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
