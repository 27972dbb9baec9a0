"""Jobs whose runs carry an account, on the auth of examples/app.py.

    authward serve --app examples/jobs.py      # the server, with the embedded worker
    authward worker --app examples/jobs.py     # or workers on their own

Without AUTHWARD_DATABASE_URL it keeps its data in ./authward-jobs.db.

Before the conversion, the scheduled job ran on a fixed interval for nobody in particular::

    client.define_job(id="scheduled-job", name="Scheduled Job", version="1.0.0",
                      trigger=interval_trigger(seconds=60), run=...)

After it, each registration on the dynamic schedule says how often, and for which account.
"""

from __future__ import annotations

from typing import Any

from app import auth, config  # the sibling examples/app.py
from pydantic import BaseModel

from authward.jobs import Io, JobClient, RunContext, cron_trigger, event_trigger

client = JobClient(id="my-app", config=config)


# -- an event job; its runs carry the account id the event was sent with -------------------------


class PostCreated(BaseModel):
    id: str


@client.job(
    id="post-created",
    name="Post created",
    version="1.0.0",
    trigger=event_trigger(name="post.created", schema=PostCreated),
)
async def post_created(payload: PostCreated, io: Io, ctx: RunContext) -> dict[str, Any]:
    account = ctx.account.id if ctx.account else None
    await io.logger.info("post created", {"post": payload.id, "account": account})
    return {"post": payload.id, "account": account}


# -- sending an event with an account id from the run of another job -----------------------------


@client.job(
    id="event-1",
    name="Run when the foo.bar event happens",
    version="0.0.1",
    trigger=event_trigger(name="foo.bar"),
)
async def event_1(payload: Any, io: Io, ctx: RunContext) -> dict[str, Any]:
    return await io.send_event(
        "🎫", {"name": "post.created", "payload": {"id": "post_123"}}, account_id="user_123"
    )


# -- the interval job, converted to a dynamic schedule ------------------------------------------

dynamic_interval = client.define_dynamic_schedule(id="my-schedule")


@client.job(id="scheduled-job", name="Scheduled Job", version="1.0.0", trigger=dynamic_interval)
async def scheduled_job(payload: dict[str, Any], io: Io, ctx: RunContext) -> None:
    await io.logger.info("This runs dynamic schedules", {"at": payload["ts"]})


async def register_schedule_for(account_id: str) -> dict[str, Any]:
    """From the backend: one schedule per account, the account id doubling as the schedule id."""
    return await dynamic_interval.register(
        account_id, {"type": "interval", "options": {"seconds": 60}, "account_id": account_id}
    )


class ScheduleRequest(BaseModel):
    account_id: str


@client.job(
    id="register-schedule",
    name="Register a schedule from a run",
    version="0.0.1",
    trigger=event_trigger(name="schedule.requested", schema=ScheduleRequest),
)
async def register_schedule(payload: ScheduleRequest, io: Io, ctx: RunContext) -> None:
    # Inside a run, register becomes a task ("register:my-schedule:schedule_123").
    await dynamic_interval.register(
        "schedule_123",
        {"type": "interval", "options": {"seconds": 60}, "account_id": payload.account_id},
    )


# -- a workflow that runs with a machine user's permissions ---------------------------------------


class WorkflowInput(BaseModel):
    id: str


@client.job(
    id="my-workflow",
    name="My workflow",
    version="1.0.0",
    trigger=event_trigger(name="my-workflow.run", schema=WorkflowInput),
)
async def my_workflow(payload: WorkflowInput, io: Io, ctx: RunContext) -> dict[str, Any]:
    user = ctx.user
    return {
        "id": payload.id,
        "acting_as": user.subject if user else None,
        "role": user.attributes.get("role") if user else None,
    }


async def trigger_my_workflow(id: str) -> str:
    """What a ``triggerMyWorkflow`` resolver does: returns the workflow run id."""
    return await my_workflow.trigger({"id": id}, auth_invoker=auth.invoker("admin-machine-user"))


# -- a cron job, evaluated on Paris wall-clock time ----------------------------------------------


@client.job(
    id="nightly-digest",
    name="Nightly digest",
    version="1.0.0",
    trigger=cron_trigger(cron="0 3 * * *", timezone="Europe/Paris"),
)
async def nightly_digest(payload: dict[str, Any], io: Io, ctx: RunContext) -> None:
    await io.logger.info("digest", {"occurrence": payload["ts"]})
