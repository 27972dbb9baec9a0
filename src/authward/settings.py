"""Instance settings from the environment (``AUTHWARD_*``), checked before the first request."""

from __future__ import annotations

__all__ = ["Settings", "default_database_url", "load_settings"]

import ipaddress
import re
import ssl
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from authward.config.urls import url_problem
from authward.errors import SettingsError

SigningAlg = Literal["EdDSA", "ES256"]


class Settings(BaseSettings):
    """Every field is read from ``AUTHWARD_<FIELD>``; see docs/settings.md."""

    model_config = SettingsConfigDict(env_prefix="AUTHWARD_", extra="ignore", frozen=True)

    database_url: str = "sqlite+aiosqlite:///./authward.db"
    #: The instance key that encrypts secrets at rest. Unset: a key file is used (created once).
    secret_key: SecretStr | None = None
    #: Older instance keys, comma-separated, still accepted for decryption after a rotation.
    previous_secret_keys: SecretStr | None = None
    key_file: Path = Path("authward.key")
    issuer: str | None = None
    audience: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    #: A request whose header lines (names, values, ": " and line ends) add up to more is
    #: answered 431 before any route runs.
    max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576)
    signing_alg: SigningAlg = "EdDSA"
    token_leeway_seconds: int = Field(30, ge=0, le=300)
    machine_user_token_lifetime_seconds: int = Field(3600, ge=60, le=86_400)
    default_access_token_lifetime_seconds: int = Field(3600, ge=60, le=86_400)
    default_refresh_token_lifetime_seconds: int = Field(86_400, ge=60, le=604_800)
    #: A refresh grant ends this long after the user's authorization, however often it rotates.
    default_refresh_token_absolute_lifetime_seconds: int = Field(2_592_000, ge=60, le=31_536_000)
    #: How long a rotated-out refresh token may be retried while its successor is unused.
    default_refresh_token_rotation_grace_seconds: int = Field(30, ge=0, le=60)
    #: Lifetime of a browser session's token; the frontend re-mints it before it runs out.
    session_token_lifetime_seconds: int = Field(60, ge=10, le=3600)
    #: How old the in-memory view of revocations, machine users and keys may get.
    cache_refresh_seconds: float = Field(2.0, gt=0, le=300)
    #: Machine users (comma-separated names) allowed to call the management API at /v1.
    #: Empty: the management API is off.
    admin_machine_users: str = ""
    #: Usernames (comma-separated) allowed to open the jobs dashboard at /dashboard.
    #: Empty: every signed-in user is refused.
    dashboard_users: str = ""
    #: Verified access tokens remembered per process (0 turns the cache off).
    verified_token_cache_size: int = Field(10_000, ge=0, le=1_000_000)
    #: DPoP proofs must carry a server nonce (RFC 9449 §8, §9), at the token endpoint and at
    #: resources; a proof without one is answered with ``use_dpop_nonce`` and a ``DPoP-Nonce``.
    dpop_require_nonce: bool = False
    #: The environment job runs see as ``ctx.environment`` (free text: development, production...).
    environment: str = Field("development", min_length=1, max_length=64)
    #: Job runs one worker process executes at the same time.
    jobs_concurrency: int = Field(10, ge=1, le=1000)
    #: This worker's id: its DBOS executor id, stable across restarts (a restarted worker
    #: recovers its own pending runs at once) and unique among the workers of one database.
    #: Empty: the host name.
    jobs_worker_id: str = Field("", max_length=200, pattern=r"^[A-Za-z0-9._:@-]*$")
    #: A killed worker's runs start again on another worker within this many seconds (it is
    #: taken for dead after half of it without a heartbeat).
    jobs_recovery_seconds: float = Field(60.0, ge=1, le=3600)
    #: How often a worker polls the queue for runs queued by other processes (runs queued in a
    #: worker process start there at once).
    jobs_poll_seconds: float = Field(0.1, ge=0.01, le=60)
    #: How many executions of one run may end with its worker gone (killed, out of memory) before
    #: the run is failed instead of executed again: a run that kills every worker executing it
    #: stops at this many.
    jobs_max_claims: int = Field(5, ge=1, le=1000)
    #: Whether `authward serve` also executes job runs and fires schedules (`authward worker`
    #: always does). Off: the server only queues runs, for the workers to execute.
    jobs_worker: bool = True
    #: Whether `authward serve`, `migrate` and `worker` delete the machine users and OAuth
    #: clients the config no longer declares (as ``--prune`` does); off, they refuse instead.
    sync_prune: bool = False
    #: Proxies (comma-separated IP addresses or CIDR networks) whose ``X-Forwarded-For`` and
    #: ``X-Forwarded-Proto`` `authward serve` believes. Empty: none, the peer is the client.
    trusted_proxies: str = ""
    #: Sign-in attempts per account and per address before a lock (docs/users.md).
    login_account_limit: int = Field(5, ge=1, le=100_000)
    login_address_limit: int = Field(20, ge=1, le=100_000)
    #: The first lock after the limit; each further attempt doubles it, up to the window.
    login_lock_seconds: int = Field(60, ge=1, le=86_400)
    #: How long attempts are remembered, and the longest lock.
    login_window_seconds: int = Field(900, ge=1, le=86_400)
    #: Failed client authentications per client (token, introspection and revocation endpoints)
    #: and failed client or API-key authentications per address, before 429 for the window.
    auth_failure_client_limit: int = Field(20, ge=1, le=1_000_000)
    auth_failure_address_limit: int = Field(100, ge=1, le=1_000_000)
    auth_failure_window_seconds: float = Field(60.0, gt=0, le=86_400)
    #: A client_id that is an https URL is resolved by fetching its client ID metadata document
    #: (docs/authorization-server.md, decision 048). Off: such ids are unknown clients.
    client_metadata_documents: bool = True
    #: Development only: metadata documents may be fetched from loopback addresses (every other
    #: private or special-use address stays refused).
    client_metadata_allow_loopback: bool = False
    #: A PEM file of the certificate authorities trusted when fetching metadata documents,
    #: instead of the usual ones (a test or private CA).
    client_metadata_ca_bundle: Path | None = None
    #: How `authward serve` and `authward worker` write their logs to stderr: one JSON object
    #: per line, or plain text (docs/operations.md).
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: One record per HTTP request (logger ``authward.access``): method, route, status, latency.
    access_log: bool = True
    #: A bearer token a Prometheus scraper sends to read ``/metrics`` on the main port. Unset:
    #: ``/metrics`` answers 401 to everyone (unless it moved to ``metrics_port``).
    metrics_token: SecretStr | None = None
    #: Serve the metrics on this port instead (without authentication: bind it to a private
    #: address with ``metrics_host``); ``/metrics`` on the main port is then gone (404).
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    #: Traces (OpenTelemetry) are exported over OTLP/HTTP to this collector URL (for example
    #: ``http://127.0.0.1:4318``). Unset: tracing is off. Needs the ``otel`` extra.
    otlp_endpoint: str | None = None
    #: The ``service.name`` resource attribute of the exported spans.
    service_name: str = Field("authward", min_length=1, max_length=128)

    #: The name every page shows in its header and title (docs/console.md).
    ui_product_name: str = Field("authward", min_length=1, max_length=64)
    #: A logo shown before the name: an https URL, or a path on this server. Unset: none.
    ui_logo_url: str | None = None
    #: The colour of buttons and links, and of the pages' header bar (``#rrggbb``).
    ui_primary_color: str = Field("#1f5fbf", pattern=r"^#[0-9a-fA-F]{6}$")
    ui_header_color: str = Field("#1d2330", pattern=r"^#[0-9a-fA-F]{6}$")

    @field_validator("ui_product_name")
    @classmethod
    def _name_is_printable(cls, value: str) -> str:
        if not value.strip() or not value.isprintable():
            raise ValueError("must be printable text")
        return value.strip()

    @field_validator("ui_logo_url")
    @classmethod
    def _logo_is_url_or_path(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.startswith("/") and not value.startswith("//"):
            if not re.fullmatch(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*", value):
                raise ValueError(f"{value!r} is not a valid path")
            return value
        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        for entry in filter(None, (e.strip() for e in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
        return value

    @field_validator("client_metadata_ca_bundle")
    @classmethod
    def _bundle_is_pem(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            ssl.create_default_context(cafile=str(value))
        except (OSError, ssl.SSLError):
            raise ValueError(f"{value} is not a readable PEM file of CA certificates") from None
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer_is_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("otlp_endpoint")
    @classmethod
    def _endpoint_is_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("must be an http(s) URL of an OTLP/HTTP collector")
        return value.rstrip("/")

    @field_validator("secret_key", "metrics_token")
    @classmethod
    def _secret_is_strong(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (try: openssl rand -base64 32)")
        return value

    @property
    def effective_issuer(self) -> str:
        """``AUTHWARD_ISSUER``, or exactly the base URL ``authward serve`` listens on."""
        if self.issuer:
            return self.issuer
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def effective_audience(self) -> str:
        return self.audience or self.effective_issuer

    @property
    def admin_machine_user_names(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.admin_machine_users.split(",") if n.strip())

    @property
    def dashboard_user_names(self) -> frozenset[str]:
        return frozenset(n.strip() for n in self.dashboard_users.split(",") if n.strip())

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")


def default_database_url(app: Path) -> str:
    """The embedded store of the app in file ``app`` when AUTHWARD_DATABASE_URL is unset, in the
    current directory: ``authward.db`` for ``app.py``, ``authward-<name>.db`` for any other file,
    so two apps never share one by accident (decision 036)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(app).stem)
    return f"sqlite+aiosqlite:///./{'authward' if stem == 'app' else f'authward-{stem}'}.db"


def load_settings(*, app: Path | None = None, **overrides: object) -> Settings:
    """Settings from the environment; a mistake names the variable and never echoes secrets.

    With ``app`` (the app file a command runs), the database defaults to that app's own."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        if app is not None and "database_url" not in settings.model_fields_set:
            settings = settings.model_copy(update={"database_url": default_database_url(app)})
        return settings
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "AUTHWARD_" + str(first["loc"][0]).upper() if first["loc"] else "AUTHWARD_*"
        raise SettingsError(f"{name}: {first['msg']}") from None
