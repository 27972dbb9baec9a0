"""The base of every integration: an id, a developer credential, and calls that are tasks.

``io.<name>.<method>(key, ...)`` inside a run goes through :meth:`Calls.call`:

1. a task whose key already has its outcome returns it (no credential is resolved for a replay);
2. otherwise the run's credential for this integration is resolved, once per execution
   (``authward.jobs.credentials``); "Unresolved auth" is recorded as the failed task and fails
   the run before any request is made;
3. the request runs as a task recording the credential's lineage (integration id, source,
   account), never the credential; the provider's errors are mapped by :meth:`classify`.
"""

from __future__ import annotations

__all__ = ["Calls", "IntegrationBase"]

import importlib.util
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from authward.connections.values import Credentials
from authward.errors import ConfigError, MissingExtra
from authward.integrations.errors import CredentialRejected
from authward.jobs.context import RunContext
from authward.jobs.errors import UnresolvedAuthError
from authward.jobs.io import Io

if TYPE_CHECKING:
    from authward.jobs.ports import CredentialVault

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class IntegrationBase:
    """``Slack(id="byo-slack")``: several instances of one provider may live side by side, each
    with its own id, auth resolver and developer credential.

    - ``token``: the developer's own credential given in code (an API token);
    - ``connection``: the vault provider whose developer connection is the developer's own
      credential when no ``token`` is given (default ``"oauth_<provider>"``);
    - ``base_url``: where the provider's API is (tests, GitHub Enterprise, ...).
    """

    provider: ClassVar[str]
    #: The provider SDK's modules, and the extra that installs them (``pip install
    #: 'authward[slack]'``): without them, building the integration fails naming the extra.
    sdk_modules: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        id: str,
        token: str | None = None,
        connection: str | None = None,
        base_url: str | None = None,
    ) -> None:
        name = type(self).__name__
        missing = [m for m in self.sdk_modules if importlib.util.find_spec(m) is None]
        if missing and self.extra is not None:
            raise MissingExtra(self.extra, f"{name}(...) ({', '.join(missing)})")
        if not isinstance(id, str) or not _ID.match(id):
            raise ConfigError(
                "must be 1-100 characters: letters, digits, '.', '_', '-' (not first)",
                path=f"{name}.id",
            )
        if token is not None and (not isinstance(token, str) or not token):
            raise ConfigError("must be a non-empty string", path=f"{name}({id!r}).token")
        connection = connection or f"oauth_{self.provider}"
        if not isinstance(connection, str) or not _PROVIDER.match(connection):
            raise ConfigError(
                "must be a connection provider name such as 'oauth_slack'",
                path=f"{name}({id!r}).connection",
            )
        if base_url is not None and not (
            isinstance(base_url, str) and base_url.startswith(("https://", "http://"))
        ):
            raise ConfigError("must be an http(s) URL", path=f"{name}({id!r}).base_url")
        self._id = id
        self._token = token
        self.connection = connection
        self.base_url = base_url

    @property
    def id(self) -> str:
        return self._id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self._id!r})"

    async def developer_credentials(self, vault: CredentialVault) -> Credentials | None:
        """``token=`` given in code, else the developer's connection in the vault, if any."""
        if self._token is not None:
            return Credentials(
                type="apiKey", token=self._token, source="developer", account_id=None
            )
        return await vault.developer_credentials(self.connection)

    def bind(self, io: Io, ctx: RunContext) -> Any:
        return self.namespace(Calls(self, io))

    def namespace(self, calls: Calls) -> Any:
        """What ``io.<name>`` is inside a run: the provider's methods, each a task."""
        raise NotImplementedError

    def classify(
        self, exc: Exception, operation: str, credentials: Credentials
    ) -> Exception | None:
        """The clear error for an SDK exception (a ProviderError, CredentialRejected), or None
        to let it through unchanged."""
        return None


class Calls:
    """One execution's binding of one integration."""

    def __init__(self, integration: IntegrationBase, io: Io) -> None:
        self.integration = integration
        self.io = io

    @property
    def ctx(self) -> RunContext:
        return self.io.ctx

    async def call(
        self, key: str, operation: str, fn: Callable[[Credentials], Awaitable[Any]]
    ) -> Any:
        """Run ``await fn(credentials)`` as the task ``key`` and return its (stored) output."""
        integration, io = self.integration, self.io
        name = f"{integration.provider}.{operation}"
        credentials: Credentials | None = None
        if not io.completed(key):
            try:
                credentials = await io.credentials(integration)
            except UnresolvedAuthError as exc:
                await io.unresolved(key, name, exc)
                raise

        async def attempt() -> Any:
            # Resolved above, unless the task's row was written as done but the engine never
            # recorded the step (the worker died between the two): it runs again.
            nonlocal credentials
            if credentials is None:
                credentials = await io.credentials(integration)
            try:
                return await fn(credentials)
            except Exception as exc:
                mapped = integration.classify(exc, operation, credentials)
                if mapped is None:
                    raise
                if isinstance(mapped, CredentialRejected) and credentials.connection_id:
                    await io.mark_broken(credentials.connection_id, str(mapped))
                raise mapped from None

        return await io.run_task(
            key,
            attempt,
            name=name,
            integration=integration.id,
            credential_source=credentials.source if credentials else None,
            credential_account=credentials.account_id if credentials else None,
        )
