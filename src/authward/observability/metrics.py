"""Prometheus metrics (prometheus-client): what authward counts, and the text a scrape reads.

Labels are bounded: route templates, methods, statuses, grant types and error codes from fixed
lists, declared job ids; never a user, client, account or run id. Counting is a
prometheus-client increment (no lock of ours, no I/O) so the hot paths stay as fast.

Several processes on one host (``authward serve`` processes behind one port's balancer,
``authward worker``s) share their counts through prometheus-client's multiprocess mode: set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory, the same for all of them, before they start;
any one of them then answers a scrape with the sum (docs/operations.md)."""

from __future__ import annotations

__all__ = [
    "GRANTS",
    "MetricsPort",
    "exposition",
    "observe_request",
]

import asyncio
import contextlib
import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

from authward.observability.readiness import JobEngineProbe

#: Token endpoint grant types counted by name; any other value is counted as "other".
GRANTS = frozenset(
    {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    }
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_RUN_BUCKETS = (0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)

HTTP_REQUESTS = Histogram(
    "authward_http_request_duration_seconds",
    "HTTP requests by route template, method and status, with their latency.",
    ("route", "method", "status"),
    buckets=_LATENCY_BUCKETS,
)
TOKENS_ISSUED = Counter(
    "authward_tokens_issued_total", "Token endpoint answers with tokens, by grant.", ("grant",)
)
TOKENS_REFUSED = Counter(
    "authward_tokens_refused_total",
    "Token endpoint refusals, by grant and OAuth error code.",
    ("grant", "reason"),
)
LOGINS = Counter(
    "authward_logins_total",
    "Sign-in attempts with a password, by outcome (succeeded, failed, locked).",
    ("outcome",),
)
VERIFICATIONS = Counter(
    "authward_verifications_total",
    "Credentials presented on requests, by kind (oauth_token, api_key, session_token, "
    "m2m_token, unknown) and outcome (valid, or the refusal's reason code).",
    ("kind", "outcome"),
)
JOB_RUNS = Histogram(
    "authward_job_run_duration_seconds",
    "Job run attempts that ended, by job and status, with how long they ran.",
    ("job", "status"),
    buckets=_RUN_BUCKETS,
)
JOB_QUEUE = Gauge(
    "authward_job_queue_depth",
    "Runs waiting to be executed (queued and due), read when scraped.",
    multiprocess_mode="mostrecent",
)
VAULT_REFRESHES = Counter(
    "authward_vault_refreshes_total",
    "Connected-account token refreshes, by outcome (refreshed, failed).",
    ("outcome",),
)
RATE_LIMITED = Counter(
    "authward_rate_limited_total",
    "Requests refused by an attempt limit, by limit (login, client_auth, registration).",
    ("limit",),
)


#: The histogram's children by labels: found by one dict lookup per request instead of
#: ``labels()``'s lock and label checks (routes, methods and statuses are bounded sets).
_request_children: dict[tuple[str, str, int], Any] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status)
    child = _request_children.get(key)
    if child is None:
        child = _request_children[key] = HTTP_REQUESTS.labels(route, method, str(status))
    child.observe(seconds)


def grant_label(grant_type: object) -> str:
    return grant_type if isinstance(grant_type, str) and grant_type in GRANTS else "other"


def token_issued(grant_type: object) -> None:
    TOKENS_ISSUED.labels(grant_label(grant_type)).inc()


def token_refused(grant_type: object, reason: str) -> None:
    TOKENS_REFUSED.labels(grant_label(grant_type), reason).inc()


def login(outcome: str) -> None:
    LOGINS.labels(outcome).inc()


def verification(kind: str, outcome: str) -> None:
    VERIFICATIONS.labels(kind, outcome).inc()


def job_run(job: str, status: str, seconds: float) -> None:
    JOB_RUNS.labels(job, status).observe(seconds)


def vault_refresh(ok: bool) -> None:
    VAULT_REFRESHES.labels("refreshed" if ok else "failed").inc()


def rate_limited(limit: str) -> None:
    RATE_LIMITED.labels(limit).inc()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def registry() -> CollectorRegistry:
    """What a scrape reads: this process's metrics, or every process's in multiprocess mode."""
    if multiprocess_dir() is None:
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
    return merged


def exposition(queue_depth: int | None = None) -> tuple[bytes, str]:
    """The text format body and its content type."""
    if queue_depth is not None:
        JOB_QUEUE.set(queue_depth)
    return generate_latest(registry()), CONTENT_TYPE_LATEST


def sample(name: str, labels: Iterable[tuple[str, str]] = ()) -> float:
    """One sample's value in this process (0 when absent): for tests and the CLI."""
    value = registry().get_sample_value(name, dict(labels))
    return 0.0 if value is None else value


class MetricsPort:
    """``/metrics`` on a port of its own (``AUTHWARD_METRICS_PORT``), without authentication,
    for ``authward serve`` and ``authward worker``; the queue depth is read every
    ``every`` seconds, since prometheus-client's server thread cannot ask the engine itself."""

    def __init__(self, host: str, port: int, jobs: JobEngineProbe, every: float = 15.0) -> None:
        self._host, self._port, self._jobs, self._every = host, port, jobs, every
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> MetricsPort:
        self._server, _ = start_http_server(self._port, self._host, registry=registry())
        self._task = asyncio.create_task(self._sample(), name="authward metrics queue depth")
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    async def _sample(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                depth = await self._jobs.queue_depth()
                if depth is not None:
                    JOB_QUEUE.set(depth)
            await asyncio.sleep(self._every)
