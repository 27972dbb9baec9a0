"""What an integration call can fail with, beyond the job runtime's own errors.

    JobsError (authward.jobs.errors)
    ├── UnresolvedAuthError     no credential for the run (the resolver said no, or there is none)
    └── IntegrationError
        ├── ProviderError       the provider answered with an error; 429 and 5xx are retried,
        │                       honouring Retry-After, others fail the task at once
        └── CredentialRejected  the provider refused the credential (revoked upstream, say): not
                                retried, and the vault connection that served it is marked broken

Messages name the integration, the operation and the provider's error code; never a credential.
"""

from __future__ import annotations

__all__ = ["CredentialRejected", "IntegrationError", "ProviderError"]

from authward.jobs.errors import JobsError


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
