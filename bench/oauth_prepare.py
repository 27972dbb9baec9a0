"""Prepare a fresh store for `bench/oauth_load.py`, with whichever authward package is imported.

    AUTHWARD_DATABASE_URL=... AUTHWARD_KEY_FILE=... python bench/oauth_prepare.py APP

`oauth_load.py` runs this in a subprocess with the environment of the server it is about to
start, so an older commit's src/ (`--baseline SRC`, on PYTHONPATH) migrates and fills its own
database with its own code: its migrations and the current ones need not agree. It migrates,
reads the machine user's and the OAuth client's credentials, creates the user and issues it an
authorization code as /oauth2/authorize would, and prints all a client needs as one JSON line.
Only calls of the runtime that both the current code and the baseline (a6b1e88) have.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import sys
import time
from pathlib import Path

from authward.config.loader import load_app
from authward.oauth.grants import CodeGrant
from authward.runtime import Authward
from authward.settings import load_settings

SCOPES = ("openid", "email", "profile")
REDIRECT_URI = "http://127.0.0.1/callback"
USERNAME = "bench-user@example.com"


async def prepare(app: Path) -> dict[str, object]:
    config, _ = load_app(app)
    settings = load_settings(
        database_url=os.environ["AUTHWARD_DATABASE_URL"],
        key_file=os.environ["AUTHWARD_KEY_FILE"],
    )
    aw = await Authward.open(config, settings, migrate=True)
    try:
        machine = await aw.machine_users.get("bench-machine")
        machine_secret = await aw.machine_users.client_secret("bench-machine")
        client = await aw.clients.get("bench-client")
        client_secret = await aw.clients.client_secret("bench-client")
        if not (machine and machine_secret and client and client_secret):
            raise SystemExit(f"{app} must define bench-machine and bench-client")
        password = secrets.token_urlsafe(16)
        user = await aw.users.create(
            USERNAME, password, profile={"name": "Bench User", "role": "USER"}
        )
        verifier = secrets.token_urlsafe(48)
        challenge = hashlib.sha256(verifier.encode()).digest()
        code = await aw.oauth.issue_code(
            CodeGrant(
                client_id=client.client_id,
                redirect_uri=REDIRECT_URI,
                scopes=SCOPES,
                user_id=user.id,
                code_challenge=base64.urlsafe_b64encode(challenge).rstrip(b"=").decode(),
                nonce=None,
                auth_time=int(time.time()),
                session_id=None,
            )
        )
    finally:
        await aw.close()
    return {
        "machine": [machine.client_id, machine_secret.get_secret_value()],
        "client": [client.client_id, client_secret.get_secret_value()],
        "code": code,
        "code_verifier": verifier,
        "user_id": user.id,
        "password": password,
        "username": USERNAME,
        "redirect_uri": REDIRECT_URI,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(prepare(Path(sys.argv[1])))), flush=True)
