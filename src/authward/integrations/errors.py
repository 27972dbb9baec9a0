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

# Defined with the job runtime's errors, which the runtime needs without importing integrations.
from authward.jobs.errors import CredentialRejected, IntegrationError, ProviderError
