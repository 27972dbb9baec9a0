"""Open the database: URL normalisation, SQLite pragmas, and one-line connection errors."""

from __future__ import annotations

__all__ = ["check_connection", "create_engine", "display_url", "normalise_url"]

from typing import Any

from sqlalchemy import event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from authward.errors import SettingsError, StoreError


def normalise_url(url: str) -> URL:
    """``postgresql://`` and ``sqlite:///`` mean the async drivers authward ships with."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError(f"AUTHWARD_DATABASE_URL: {url!r} is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    raise SettingsError(
        f"AUTHWARD_DATABASE_URL: {backend!r} is not supported (use sqlite or postgresql)"
    )


def display_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; busy_timeout waits out a writer instead of failing.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = normalise_url(url)
    engine = create_async_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


async def check_connection(engine: AsyncEngine) -> None:
    """Fail with one line naming the database (never its password) when it cannot be used."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StoreError(f"cannot use database {display_url(engine.url)}: {reason}") from exc
