"""The app `bench/webhook_load.py` serves: one GitHub dynamic trigger and a job listening to it."""

from __future__ import annotations

import os
from typing import Any

from authward import db, define_auth, define_config
from authward.integrations.github import Github, events
from authward.jobs import Io, JobClient, RunContext

user = db.type("User", {"email": db.string().unique(), **db.fields.timestamps()})
auth = define_auth("bench-auth", user_profile={"type": user, "username_field": "email"})
config = define_config(auth=auth, db=[user])

client = JobClient(id="bench-webhooks")
github = Github(
    id="github",
    token="ghp_bench_developer_token",
    base_url=os.environ.get("AUTHWARD_BENCH_GITHUB_URL", "http://127.0.0.1:9"),
)
on_issue_opened = client.define_dynamic_trigger(
    id="github-issue-opened", event=events.on_issue_opened, source=github.sources.repo
)


@client.job(id="on-issue-opened", name="On issue opened", version="1", trigger=on_issue_opened)
async def on_opened(payload: Any, io: Io, ctx: RunContext) -> Any:
    return {"issue": payload["issue"]["number"]}
