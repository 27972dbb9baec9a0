"""What the job runtime refuses. Definition mistakes are :class:`~authward.errors.ConfigError`s
(raised when the app module is imported); the rest live here.

    JobsError           AuthwardError
    ├── JobsNotBound    send_event / trigger / register before a runtime bound the client
    ├── UnknownJob      a job id no bound client defines
    ├── EventRejected   an event (or payload) that fails its shape or a listening job's schema
    ├── TaskKeyReused   one task key used twice in one run
    ├── TaskOutputError a task returned something that is not JSON-serialisable
    ├── TaskFailed      a task failed on its last attempt (the run fails with it)
    ├── ReplayMismatch  a resumed run called its tasks in another order than before
    ├── WorkerIdInUse   a worker started with the id of one that is running
    ├── UnresolvedAuthError  an integration got no credential for the run (docs/integrations.md)
    └── IntegrationError     a provider's error in an integration call (integrations/errors)
        ├── ProviderError
        └── CredentialRejected
"""

from __future__ import annotations

__all__ = [
    "CredentialRejected",
    "EventRejected",
    "IntegrationError",
    "JobsError",
    "JobsNotBound",
    "ProviderError",
    "ReplayMismatch",
    "TaskFailed",
    "TaskKeyReused",
    "TaskOutputError",
    "UnknownJob",
    "UnresolvedAuthError",
    "WorkerIdInUse",
]

from collections.abc import Sequence
from typing import Any

from authward.errors import AuthwardError


class JobsError(AuthwardError):
    code = "jobs_error"


class ReplayMismatch(JobsError):
    """A resumed run called its tasks in another order than before (the engine matches steps
    by position): its code between tasks is not deterministic."""

    code = "replay_mismatch"


class WorkerIdInUse(JobsError):
    code = "worker_id_in_use"


class JobsNotBound(JobsError):
    code = "jobs_not_bound"

    def __init__(self, client_id: str) -> None:
        super().__init__(
            f"job client {client_id!r} is not bound to a runtime: run it under `authward serve` "
            "or `authward worker`, or bind it with aw.jobs.bind([client])"
        )


class UnknownJob(JobsError):
    code = "unknown_job"


class EventRejected(JobsError):
    """``errors`` is pydantic's error list (``loc``, ``msg``, ``type``), JSON-ready."""

    code = "invalid_event"

    def __init__(self, message: str, errors: Sequence[dict[str, Any]] = ()) -> None:
        self.errors = [dict(e) for e in errors]
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())) or 'payload'}: {e.get('msg', '')}"
            for e in self.errors
        )
        super().__init__(f"{message}: {details}" if details else message)


class TaskKeyReused(JobsError):
    code = "task_key_reused"


class TaskOutputError(JobsError):
    code = "task_output_invalid"


class TaskFailed(JobsError):
    code = "task_failed"

    def __init__(self, key: str, attempts: int, error: str) -> None:
        self.key = key
        self.attempts = attempts
        self.error = error
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        super().__init__(f"task {key!r} failed after {tries}: {error}")


class UnresolvedAuthError(JobsError):
    """An integration got no credential for a run: its auth resolver returned ``None``, raised,
    timed out or answered with the wrong type, or there is neither a resolver nor a developer
    credential. The run fails with it before any request is made."""

    code = "unresolved_auth"

    def __init__(self, integration_id: str, account_id: str | None, reason: str) -> None:
        self.integration_id = integration_id
        self.account_id = account_id
        self.reason = reason
        account = repr(account_id) if account_id is not None else "none"
        super().__init__(
            f"Unresolved auth for integration {integration_id!r} (account {account}): {reason}"
        )


class IntegrationError(JobsError):
    code = "integration_error"
    #: Read by ``io.run_task``: False fails the task without another attempt.
    retryable: bool = False
    #: Read by ``io.run_task``: seconds until the next attempt, instead of the retry policy's.
    retry_after: float | None = None


class ProviderError(IntegrationError):
    code = "provider_error"

    def __init__(
        self,
        integration_id: str,
        operation: str,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.integration_id = integration_id
        self.operation = operation
        self.status = status
        self.retry_after = retry_after
        self.retryable = status is None or status == 429 or status >= 500
        where = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"{integration_id} {operation} failed ({where}): {detail}")


class CredentialRejected(IntegrationError):
    code = "credential_rejected"

    def __init__(
        self, integration_id: str, operation: str, detail: str, *, account_id: str | None
    ) -> None:
        self.integration_id = integration_id
        self.operation = operation
        self.account_id = account_id
        whose = f"account {account_id!r}" if account_id is not None else "the developer"
        super().__init__(
            f"{integration_id} {operation}: the provider refused the credential of {whose} "
            f"({detail}); the account must reconnect or the resolver return a valid token"
        )
