"""``/healthz`` (liveness), ``/readyz`` (readiness) and ``/metrics`` (Prometheus).

- ``/healthz`` answers 200 while the process serves requests, touching nothing else: a
  liveness probe that restarts a process whose database is down would only make things worse.
- ``/readyz`` asks every check (the database, pending migrations, the signing keys, the job
  engine) and answers 503 naming the failing ones, 200 when all pass. The body says which
  check failed in a few words; details (where the database is) go to the log.
- ``/metrics`` answers the bearer token of ``AUTHWARD_METRICS_TOKEN`` (compared in constant
  time) and 401 to anyone else; without a token set it is 401 for everyone.
"""

from __future__ import annotations

__all__ = ["ops_routes"]

import hmac
import logging
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from authward.observability import metrics
from authward.observability.readiness import Check, JobEngineProbe, run_checks

log = logging.getLogger("authward.server")


def ops_routes(
    checks: Mapping[str, Check],
    *,
    jobs: JobEngineProbe,
    liveness: bool = True,
    metrics_token: str | None,
    metrics_here: bool = True,
) -> list[BaseRoute]:
    expected = f"Bearer {metrics_token}".encode() if metrics_token else None

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def ready(_: Request) -> JSONResponse:
        results = await run_checks(checks)
        failing = {name: problem for name, problem in results.items() if problem is not None}
        if failing:
            log.warning("not ready: %s", "; ".join(f"{k}: {v}" for k, v in failing.items()))
        return JSONResponse(
            {
                "status": "unavailable" if failing else "ok",
                "checks": {name: problem or "ok" for name, problem in results.items()},
            },
            status_code=503 if failing else 200,
            headers={"Cache-Control": "no-store"},
        )

    async def scrape(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if expected is None or not hmac.compare_digest(given, expected):
            return JSONResponse(
                {"error": "invalid_token", "message": "metrics need the scraper's bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        body, content_type = metrics.exposition(await queue_depth(jobs))
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    routes: list[BaseRoute] = [Route("/readyz", ready)]
    if liveness:
        routes.append(Route("/healthz", health))
    if metrics_here:
        routes.append(Route("/metrics", scrape))
    return routes


async def queue_depth(jobs: JobEngineProbe) -> int | None:
    try:
        return await jobs.queue_depth()
    except Exception as exc:
        log.warning("metrics: the job queue depth is unknown (%s)", type(exc).__name__)
        return None
