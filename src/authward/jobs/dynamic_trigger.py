"""Dynamic triggers: a job's trigger whose webhooks are registered at run time, each at the
provider with one account's credentials and its own secret (the seed's ``defineDynamicTrigger``).

    on_issue_opened = client.define_dynamic_trigger(
        id="github-issue-opened", event=github_events.on_issue_opened, source=github.sources.repo)
    client.define_job(id="listen", ..., trigger=on_issue_opened, run=...)
    await on_issue_opened.register("reg_1", {"owner": "o", "repo": "r"}, account_id="user_1")

This module is provider-agnostic: an *event* says what the provider's webhook subscribes to and
which deliveries match; a *source* creates and deletes webhooks with a credential and knows how
the provider signs and names its deliveries (``authward.integrations.github`` has both). The
delivery URL is ``<issuer>/webhooks/<registration id>`` (``authward.server.webhooks``).
"""

from __future__ import annotations

__all__ = [
    "Delivery",
    "DynamicTrigger",
    "TriggerEvent",
    "WebhookAnswer",
    "WebhookSource",
    "receive_webhook",
]

import asyncio
import json
import logging
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy.exc import IntegrityError

from authward.connections.values import Credentials
from authward.errors import ConfigError
from authward.jobs.context import Account, EventRef, JobRef, RunContext
from authward.jobs.credentials import resolve_credentials
from authward.jobs.errors import CredentialRejected, ProviderError, UnresolvedAuthError
from authward.jobs.io import Integration, current_io
from authward.principal import current_principal

if TYPE_CHECKING:
    from authward.jobs.client import JobClient
    from authward.jobs.runtime import JobsRuntime
    from authward.jobs.webhook_store import WebhookRegistration

log = logging.getLogger("authward.webhooks")

#: 32 random bytes, hex: the per-registration HMAC key (GitHub accepts any string).
_SECRET_BYTES = 32


def _new_secret() -> str:
    return secrets.token_hex(_SECRET_BYTES)


@runtime_checkable
class TriggerEvent(Protocol):
    """What a dynamic trigger listens to (``github.events.on_issue_opened``)."""

    @property
    def provider(self) -> str: ...

    @property
    def name(self) -> str:
        """The provider's event name the webhook subscribes to (``issues``)."""
        ...

    def matches(self, event: str, payload: Any) -> bool:
        """Whether a delivery of ``event`` with ``payload`` is this event (the action filter)."""
        ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """The provider's id and event name of one webhook delivery, read from its headers."""

    id: str
    event: str


@runtime_checkable
class WebhookSource(Protocol):
    """Where a dynamic trigger's webhooks are created (``github.sources.repo``)."""

    @property
    def integration(self) -> Integration:
        """Whose auth resolver (or developer credential) creates and deletes the webhooks."""
        ...

    @property
    def name(self) -> str: ...

    def check_params(self, params: object) -> dict[str, Any]:
        """The registration's params, checked (a ConfigError names the bad field)."""
        ...

    async def create(
        self,
        credentials: Credentials,
        *,
        params: Mapping[str, Any],
        url: str,
        secret: str,
        events: Sequence[str],
    ) -> str:
        """Create the webhook at the provider; return its id there."""
        ...

    async def delete(
        self, credentials: Credentials, *, params: Mapping[str, Any], external_id: str
    ) -> None:
        """Delete the webhook at the provider; one already gone is not an error."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes, secret: bytes) -> bool:
        """Whether ``body`` carries a valid signature made with ``secret`` (constant time)."""
        ...

    def delivery(self, headers: Mapping[str, str]) -> Delivery | None:
        """The delivery's id and event name, or None when the headers lack them."""
        ...


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > 200:
        raise ConfigError("must be a non-empty string of 200 characters at most", "key")
    return key


def _check_account(account_id: object) -> str | None:
    if account_id is not None and (
        not isinstance(account_id, str)
        or not account_id
        or len(account_id) > 200
        or "\x00" in account_id  # PostgreSQL cannot store it
    ):
        raise ConfigError(
            "must be a non-empty string of 200 characters at most, without NUL", "account_id"
        )
    return account_id


class DynamicTrigger:
    """A job's trigger whose webhooks are registered per key, each with its own account."""

    def __init__(
        self, client: JobClient, id: str, event: TriggerEvent, source: WebhookSource
    ) -> None:
        self.client = client
        self.id = id
        self.event = event
        self.source = source

    def describe(self) -> str:
        return f"dynamic trigger {self.id} ({self.event.describe()} from {self.source.name})"

    def _context(self, key: str, account_id: str | None) -> RunContext:
        """What the source integration's auth resolver sees when a webhook is managed: the
        registration's account (not the run's, when registering from another job)."""
        runtime = self.client.bound_runtime()
        return RunContext(
            id=f"webhook:{self.id}:{key}",
            job=JobRef(id=self.id, version=""),
            event=EventRef(id=None, name=f"register {self.id}", timestamp=runtime.clock()),
            account=Account(account_id) if account_id is not None else None,
            environment=runtime.environment,
            user=current_principal(),
            attempt=1,
        )

    async def credentials(self, key: str, account_id: str | None) -> Credentials:
        runtime = self.client.bound_runtime()
        return await resolve_credentials(
            runtime.ports.vault,
            self.client.auth_resolvers,
            self.source.integration,
            self._context(key, account_id),
        )

    async def register(
        self, key: str, params: Mapping[str, Any], *, account_id: str | None = None
    ) -> dict[str, Any]:
        """Create (or replace) the webhook registered as ``key``; its runs carry ``account_id``.

        The webhook is created with the source integration's credential for ``account_id``
        (its auth resolver, else the developer's credential). Inside a run this is a task keyed
        ``key``."""
        key = _check_key(key)
        account_id = _check_account(account_id)
        params = self.source.check_params(params)
        runtime = self.client.bound_runtime()
        if not runtime.jobs_for_trigger(self.id):
            raise ConfigError(
                f"no job uses dynamic trigger {self.id!r} as its trigger: define one with "
                f"trigger={self.id.replace('-', '_')} before registering on it",
                path=f"dynamic_triggers.{self.id}",
            )
        io = current_io.get()
        if io is None:
            credentials = await self.credentials(key, account_id)
            return await self._register(key, params, account_id, credentials)
        integration = self.source.integration
        name = f"register {self.id}"
        task_credentials: Credentials | None = None
        if not io.completed(key):
            try:
                task_credentials = await self.credentials(key, account_id)
            except UnresolvedAuthError as exc:
                await io.unresolved(key, name, exc)
                raise

        async def attempt() -> dict[str, Any]:
            assert task_credentials is not None  # a task without a stored outcome resolved one
            return await self._register(key, params, account_id, task_credentials)

        info: dict[str, Any] = await io.run_task(
            key,
            attempt,
            name=name,
            integration=integration.id,
            credential_source=task_credentials.source if task_credentials else None,
            credential_account=task_credentials.account_id if task_credentials else None,
        )
        return info

    async def _register(
        self,
        key: str,
        params: dict[str, Any],
        account_id: str | None,
        credentials: Credentials,
    ) -> dict[str, Any]:
        runtime = self.client.bound_runtime()
        registration_id = f"whr_{uuid.uuid4().hex}"
        secret = _new_secret()
        url = f"{runtime.settings.issuer.rstrip('/')}/webhooks/{registration_id}"
        external_id = await self.source.create(
            credentials, params=params, url=url, secret=secret, events=[self.event.name]
        )
        now = runtime.clock()
        row = {
            "id": registration_id,
            "client_id": self.client.id,
            "dynamic_trigger_id": self.id,
            "key": key,
            "params": params,
            "account_id": account_id,
            "secret": runtime.webhooks.seal(registration_id, secret),
            "external_id": external_id,
            "created_at": now,
            "updated_at": now,
        }
        try:
            old = await runtime.webhooks.replace(row)
        except BaseException:
            # Nothing points at the new webhook: take it back so it does not deliver into a 404.
            await asyncio.shield(
                self._delete_quietly(credentials, params, external_id, registration_id)
            )
            raise
        replaced = None
        if old is not None:
            replaced = {"registration_id": old.id, "hook_deleted": await self._drop_hook(old)}
        return {
            "key": key,
            "dynamic_trigger_id": self.id,
            "registration_id": registration_id,
            "url": url,
            "params": params,
            "account_id": account_id,
            "external_id": external_id,
            "replaced": replaced,
        }

    async def _delete_quietly(
        self,
        credentials: Credentials,
        params: Mapping[str, Any],
        external_id: str,
        registration_id: str,
    ) -> bool:
        try:
            await self.source.delete(credentials, params=params, external_id=external_id)
        except Exception as exc:
            log.warning(
                "could not delete the webhook of registration %s at the provider: %s",
                registration_id,
                exc,
            )
            return False
        return True

    async def _drop_hook(self, old: WebhookRegistration) -> bool:
        """Delete a replaced registration's webhook with its own account's credential."""
        if old.external_id is None:
            return True
        try:
            credentials = await self.credentials(old.key, old.account_id)
        except UnresolvedAuthError as exc:
            log.warning("could not delete the replaced webhook of %s: %s", old.id, exc)
            return False
        return await self._delete_quietly(credentials, old.params, old.external_id, old.id)

    async def unregister(self, key: str) -> bool:
        """Delete the webhook at the provider and the registration; False if there was none.

        Inside a run this is a task keyed ``unregister:<key>``. A provider that answers 429/5xx
        (or cannot be reached) leaves the registration in place, so trying again works; a
        credential that cannot be resolved or is refused, or a webhook already gone, still
        removes the registration (its deliveries are refused from then on)."""
        key = _check_key(key)
        runtime = self.client.bound_runtime()
        io = current_io.get()
        if io is None:
            return await self._unregister(key)
        task_key = f"unregister:{key}"
        account = None
        if not io.completed(task_key):
            found = await runtime.webhooks.find(self.id, key)
            account = found.account_id if found else None
        removed: bool = await io.run_task(
            task_key,
            lambda: self._unregister(key),
            name=f"unregister {self.id}",
            integration=self.source.integration.id,
            credential_account=account,
        )
        return removed

    async def _unregister(self, key: str) -> bool:
        runtime = self.client.bound_runtime()
        found = await runtime.webhooks.find(self.id, key)
        if found is None:
            return False
        if found.external_id is not None:
            try:
                credentials = await self.credentials(key, found.account_id)
                await self.source.delete(
                    credentials, params=found.params, external_id=found.external_id
                )
            except (UnresolvedAuthError, CredentialRejected) as exc:
                log.warning(
                    "registration %s removed, but its webhook at the provider could not be "
                    "deleted: %s",
                    found.id,
                    exc,
                )
            except ProviderError as exc:
                if exc.retryable:
                    raise
                log.warning(
                    "registration %s removed; the provider refused to delete its webhook: %s",
                    found.id,
                    exc,
                )
        return await runtime.webhooks.delete(found.id)

    async def list(self) -> list[dict[str, Any]]:
        """The registrations of this trigger (never their secrets)."""
        runtime = self.client.bound_runtime()
        return [
            {
                "key": r.key,
                "registration_id": r.id,
                "params": dict(r.params),
                "account_id": r.account_id,
                "external_id": r.external_id,
                "created_at": r.created_at.isoformat(),
            }
            for r in await runtime.webhooks.list(self.id)
        ]


def _no_constant(name: str) -> Any:
    # json.loads takes NaN and Infinity, which are not JSON: the run's payload column refuses them.
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    status: int
    body: dict[str, Any]


async def receive_webhook(
    runtime: JobsRuntime, registration_id: str, headers: Mapping[str, str], body: bytes
) -> WebhookAnswer:
    """Verify a delivery, drop a repeated or non-matching one, and start the trigger's runs.

    Nothing of the body is logged or echoed: it is the provider's data about a user's repository.
    """
    target = (
        await runtime.webhooks.for_delivery(registration_id) if len(registration_id) <= 64 else None
    )
    trigger = (
        runtime.dynamic_triggers.get(target.registration.dynamic_trigger_id) if target else None
    )
    if target is None or trigger is None:
        return WebhookAnswer(404, {"error": "unknown_registration"})
    registration = target.registration
    source = trigger.source
    if not source.verify(headers, body, target.secret):
        return WebhookAnswer(401, {"error": "invalid_signature"})
    delivery = source.delivery(headers)
    if delivery is None:
        return WebhookAnswer(400, {"error": "missing_delivery_headers"})
    try:
        payload = json.loads(body, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        return WebhookAnswer(400, {"error": "malformed_json"})
    if not isinstance(payload, dict):
        return WebhookAnswer(400, {"error": "malformed_json"})
    if not trigger.event.matches(delivery.event, payload):
        return WebhookAnswer(200, {"status": "ignored", "event": delivery.event})
    try:
        duplicate, run_ids = await runtime.start_trigger_runs(
            trigger,
            payload,
            registration_id=registration.id,
            account_id=registration.account_id,
            delivery_id=delivery.id,
            event=delivery.event,
        )
    except IntegrityError:
        # Unregistered (or replaced) since it was read, perhaps by another process while it was
        # cached here: the delivery's foreign key says so.
        runtime.webhooks.forget(registration.id)
        return WebhookAnswer(404, {"error": "unknown_registration"})
    if duplicate:
        return WebhookAnswer(200, {"status": "duplicate", "run_ids": list(run_ids)})
    return WebhookAnswer(202, {"status": "accepted", "run_ids": list(run_ids)})
