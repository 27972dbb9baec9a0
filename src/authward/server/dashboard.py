"""The jobs dashboard (docs/dashboard.md): runs with their account id, a run's tasks as a
timeline and its logs, and a form that tests a job.

    GET  /dashboard                    runs, newest first (?account_id=&job_id=&status=&cursor=)
    GET  /dashboard/runs/{run_id}      one run: payload, output or error, tasks, logs
    POST /dashboard/runs/{run_id}/cancel
    GET  /dashboard/jobs               the jobs, each with a "test" form
    POST /dashboard/jobs/test          start a run of a job; 303 to its page

Behind the browser sign-in of the login pages: signed out is a 303 to ``/login?return_to=``; a
signed-in user whose username is not in ``AUTHWARD_DASHBOARD_USERS`` gets 403
(docs/decisions/017-dashboard-access.md). Forms carry the login pages' CSRF token.
"""

from __future__ import annotations

__all__ = ["dashboard_routes"]

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, get_args
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from authward.identity.sessions import SessionInfo
from authward.jobs.errors import EventRejected, UnknownJob
from authward.jobs.records import LIVE_STATUSES, RunDetail, RunStatus, RunSummary, TaskRecord
from authward.oauth.upstream_values import safe_return_to
from authward.principal import Principal, use_principal
from authward.server.browser_flow import BrowserFlow
from authward.server.forms import FormError, read_form
from authward.server.jobs_api import JobsAdmin, run_position
from authward.server.management_errors import BadRequest
from authward.server.pages import Nav, no_store_redirect
from authward.server.paging import after_timed, next_cursor

STATUSES: tuple[str, ...] = get_args(RunStatus)
#: Runs one list page shows (the filters narrow it down).
PAGE_RUNS = 100
#: A live run's page reloads itself this often (seconds), so progress shows without JavaScript.
REFRESH_SECONDS = 2
_MAX_ACCOUNT_ID = 200


@dataclass(frozen=True, slots=True)
class Viewer:
    session: SessionInfo
    username: str

    def nav(self, section: str) -> Nav:
        return Nav(self.username, admin=True, section=section)

    def principal(self) -> Principal:
        """Who a run tested from the dashboard acts as: the signed-in user."""
        return Principal(
            authenticator="authward",
            principal_type="user",
            principal_id=self.session.user_id,
            subject=self.session.user_id,
            attributes={"tokenType": "browser_session", "sessionId": self.session.id},
        )


def _when(at: datetime | None) -> str:
    if at is None:
        return "–"
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return f"{at:%Y-%m-%d %H:%M:%S}Z"


def _duration(ms: float | None) -> str:
    if ms is None:
        return "–"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(ms / 1000, 60)
    return f"{minutes:.0f} min {seconds:.0f} s"


def _ms(delta: timedelta) -> float:
    return delta.total_seconds() * 1000


def _json(value: Any, *, indent: int | None = 2) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=False, default=str)


class Dashboard:
    def __init__(self, jobs: JobsAdmin, flow: BrowserFlow, *, viewers: frozenset[str]) -> None:
        self.runtime = jobs
        self.flow = flow
        self.look = flow.look
        self.viewers = viewers

    def _message(
        self, heading: str, message: str, *, status: int, viewer: Viewer | None
    ) -> Response:
        nav = viewer.nav("") if viewer else None
        return self.look.message(heading, message, status=status, nav=nav)

    # -- who may look -----------------------------------------------------------------------

    async def _viewer(self, request: Request, back: str) -> Viewer | Response:
        signed_in = await self.flow.signed_in(request)
        if signed_in is None:
            return no_store_redirect(
                "/login?" + urlencode({"return_to": safe_return_to(back) or "/dashboard"})
            )
        session, username = signed_in
        if username not in self.viewers:
            return self._message(
                "Not allowed",
                f"You are signed in as {username}, who may not open the jobs dashboard. "
                "An administrator can add your username to AUTHWARD_DASHBOARD_USERS.",
                status=403,
                viewer=None,
            )
        return Viewer(session, username)

    async def _form(self, request: Request, viewer: Viewer) -> dict[str, str] | Response:
        try:
            form = await read_form(request)
        except FormError as exc:
            return self._message("Invalid form", str(exc), status=400, viewer=viewer)
        if not self.flow.forms.csrf_ok(request, form):
            return self._message(
                "Form expired",
                "This form was not sent from this site or has expired. Reload the page and "
                "try again.",
                status=403,
                viewer=viewer,
            )
        return form

    def _with_csrf(self, request: Request, render_page: Callable[[str], Response]) -> Response:
        """Render a page that holds forms, binding their CSRF token to the browser's cookie."""
        token, cookie = self.flow.forms.csrf_token(request)
        response = render_page(token)
        self.flow.forms.set_csrf_cookie(request, response, cookie)
        return response

    # -- runs ---------------------------------------------------------------------------------

    async def runs(self, request: Request) -> Response:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        viewer = await self._viewer(request, path)
        if isinstance(viewer, Response):
            return viewer
        params = request.query_params
        account_id = params.get("account_id", "").strip()
        job_id = params.get("job_id", "").strip()
        status = params.get("status", "").strip()
        jobs = sorted({j.id for j in self.runtime.list_jobs()} | ({job_id} if job_id else set()))
        filters = [
            (k, v)
            for k, v in (("account_id", account_id), ("job_id", job_id), ("status", status))
            if v
        ]
        # The management API's cursor of /v1/runs: one way to page runs, one way to refuse a
        # link that is not a page's.
        cursor = params.get("cursor") or None
        alert, runs, following = "", [], None
        if status and status not in STATUSES:
            alert = f"Unknown status {status!r} (known: {', '.join(STATUSES)})."
        else:
            try:
                start = after_timed("runs", cursor, str)
            except BadRequest:
                alert = "This is not a link to a page of runs: start again from the newest."
            else:
                found = await self.runtime.list_runs(
                    account_id=account_id or None,
                    job_id=job_id or None,
                    status=status or None,
                    after=start,
                    limit=PAGE_RUNS + 1,
                )
                runs = found[:PAGE_RUNS]
                following = next_cursor("runs", found, PAGE_RUNS, run_position)
        filtered = bool(filters)
        page = {
            "previous": None,
            "number": None,
            "first": f"/dashboard?{urlencode(filters)}" if cursor else None,
            "next": f"/dashboard?{urlencode([*filters, ('cursor', following)])}"
            if following
            else None,
        }
        count = f"{len(runs)} run(s)" + (", older ones on the next pages" if following else "")
        return self.look.page(
            "runs.html",
            title="Runs",
            nav=viewer.nav("runs"),
            status=400 if alert else 200,
            alert=alert,
            account_id=account_id,
            job_id=job_id,
            chosen_status=status,
            job_options=[("", "any job"), *((j, j) for j in jobs)],
            status_options=[("", "any status"), *((s, s) for s in STATUSES)],
            runs=[self._run_row(r) for r in runs],
            page=page,
            count=count,
            empty="No runs match these filters." if filtered else "No runs yet.",
        )

    @staticmethod
    def _run_row(run: RunSummary) -> dict[str, str]:
        return {
            "id": run.id,
            "job": f"{run.job_id} {run.job_version}",
            "status": run.status,
            "account": run.account_id or "–",
            "invoker": run.invoker or "–",
            "event": run.event_name or "–",
            "started": _when(run.started_at),
            "duration": _duration(run.duration_ms),
        }

    async def run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        viewer = await self._viewer(request, f"/dashboard/runs/{run_id}")
        if isinstance(viewer, Response):
            return viewer
        run = await self.runtime.get_run(run_id)
        if run is None:
            return self._message(
                "No such run", f"There is no run {run_id}.", status=404, viewer=viewer
            )
        return self._with_csrf(request, lambda csrf: self._run_page(run, viewer, csrf))

    def _run_page(self, run: RunDetail, viewer: Viewer, csrf: str) -> Response:
        live = run.status in LIVE_STATUSES
        shown = {
            "account": run.account_id or "–",
            "invoker": run.invoker or "–",
            "event": " ".join(x for x in (run.event_name, run.event_id) if x) or "–",
            "created": _when(run.created_at),
            "started": _when(run.started_at),
            "finished": _when(run.finished_at),
            "duration": _duration(run.duration_ms),
            "resume": _when(run.resume_at) if run.resume_at else "",
            "payload": _json(run.payload),
            "output": _json(run.output) if run.output is not None else None,
        }
        tasks, lineage = self._timeline(run)
        logs = [
            {
                "at": _when(entry.at),
                "level": entry.level,
                "message": entry.message,
                "data": _json(entry.data, indent=None) if entry.data is not None else None,
            }
            for entry in run.logs
        ]
        return self.look.page(
            "run.html",
            title=f"Run {run.id}",
            nav=viewer.nav("runs"),
            refresh=REFRESH_SECONDS if live else None,
            run=run,
            f=shown,
            live=live,
            csrf=csrf,
            tasks=tasks,
            lineage=lineage,
            logs=logs,
        )

    def _timeline(self, run: RunDetail) -> tuple[list[dict[str, Any]], bool]:
        """The tasks' rows, each with the classes placing its bar: its offset from the run's
        start and its length, in whole percent of the run's span (the stylesheet has a rule
        per percent, so no page needs a style of its own)."""
        if not run.tasks:
            return [], False
        origin = run.started_at or run.created_at
        ends = [x.finished_at or x.started_at for x in run.tasks]
        end = run.finished_at or max([*ends, datetime.now(UTC)])
        span = max(_ms(end - origin), 1.0)
        lineage = any(
            x.integration or x.credential_source or x.credential_account for x in run.tasks
        )
        rows = []
        for task in run.tasks:
            start = max(_ms(task.started_at - origin), 0.0)
            length = _ms((task.finished_at or end) - task.started_at)
            left = min(int(start / span * 100), 99)
            width = min(max(round(length / span * 100), 1), 100 - left)
            rows.append(self._task_row(task, f"l{left} w{width}", start, length))
        return rows, lineage

    @staticmethod
    def _task_row(task: TaskRecord, bar: str, start: float, length: float) -> dict[str, Any]:
        detail: tuple[str, str] | None = None
        if task.error:
            detail = ("error", task.error)
        elif task.output is not None:
            detail = ("output", _json(task.output))
        return {
            "seq": task.seq,
            "key": task.key,
            "name": task.name if task.name != task.key else "",
            "detail": detail,
            "status": task.status,
            "attempts": task.attempts,
            "offset": f"+{_duration(start)}",
            "duration": _duration(length) if task.finished_at else f"{_duration(length)}…",
            "bar": bar,
            "integration": task.integration or "–",
            "source": task.credential_source or "–",
            "account": task.credential_account or "–",
        }

    async def cancel(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        viewer = await self._viewer(request, f"/dashboard/runs/{run_id}")
        if isinstance(viewer, Response):
            return viewer
        form = await self._form(request, viewer)
        if isinstance(form, Response):
            return form
        if not await self.runtime.cancel_run(run_id) and await self.runtime.get_run(run_id) is None:
            return self._message(
                "No such run", f"There is no run {run_id}.", status=404, viewer=viewer
            )
        # Already finished: its page says how.
        return no_store_redirect(f"/dashboard/runs/{run_id}")

    # -- jobs ---------------------------------------------------------------------------------

    async def jobs(self, request: Request) -> Response:
        viewer = await self._viewer(request, "/dashboard/jobs")
        if isinstance(viewer, Response):
            return viewer
        return self._with_csrf(request, lambda csrf: self._jobs_page(viewer, csrf))

    def _jobs_page(
        self,
        viewer: Viewer,
        csrf: str,
        *,
        failed: tuple[str, str, str, str] | None = None,
        status: int = 200,
    ) -> Response:
        """``failed``: (job id, message, payload, account id) of a test that was refused, shown
        again in that job's form."""
        return self.look.page(
            "jobs.html",
            title="Jobs",
            nav=viewer.nav("jobs"),
            status=status,
            jobs=self.runtime.list_jobs(),
            failed=failed,
            csrf=csrf,
        )

    async def test(self, request: Request) -> Response:
        viewer = await self._viewer(request, "/dashboard/jobs")
        if isinstance(viewer, Response):
            return viewer
        form = await self._form(request, viewer)
        if isinstance(form, Response):
            return form
        job_id = form.get("job_id", "")
        text = form.get("payload", "")
        account_id = form.get("account_id", "").strip()

        def again(message: str) -> Response:
            failed = (job_id, message, text, account_id)
            return self._with_csrf(
                request, lambda csrf: self._jobs_page(viewer, csrf, failed=failed, status=400)
            )

        try:
            payload = json.loads(text) if text.strip() else None
        except ValueError as exc:
            return again(f"The payload is not valid JSON: {exc}. No run was started.")
        if len(account_id) > _MAX_ACCOUNT_ID:
            return again(f"The account id is longer than {_MAX_ACCOUNT_ID} characters.")
        try:
            with use_principal(viewer.principal()):
                run_id = await self.runtime.test_job(job_id, payload, account_id=account_id or None)
        except UnknownJob as exc:
            return self._message("No such job", str(exc), status=404, viewer=viewer)
        except EventRejected as exc:
            return again(f"{exc}. No run was started.")
        return no_store_redirect(f"/dashboard/runs/{run_id}")


def dashboard_routes(
    jobs: JobsAdmin, flow: BrowserFlow, *, viewers: frozenset[str]
) -> list[BaseRoute]:
    """``viewers``: the usernames that may open the dashboard (``AUTHWARD_DASHBOARD_USERS``)."""
    dashboard = Dashboard(jobs, flow, viewers=viewers)
    return [
        Route("/dashboard", dashboard.runs, methods=["GET"]),
        Route("/dashboard/runs/{run_id}", dashboard.run, methods=["GET"]),
        Route("/dashboard/runs/{run_id}/cancel", dashboard.cancel, methods=["POST"]),
        Route("/dashboard/jobs", dashboard.jobs, methods=["GET"]),
        Route("/dashboard/jobs/test", dashboard.test, methods=["POST"]),
    ]
