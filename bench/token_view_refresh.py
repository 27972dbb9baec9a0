"""What one refresh of the access-token view costs, by the number of live revocations.

    .venv/bin/python bench/token_view_refresh.py [--database sqlite|postgresql|both]
        [--sizes 0 10000 100000] [--rounds 7]

Issue 14 item 6, decision 041. For each store and each number of live revocations, a fresh store
(the example app, its revocations inserted in bulk) is opened by one runtime, and each round
times, one after the other (so the machine's drift hits them alike; medians of the rounds):

- before: the full reload every refresh did until decision 041 (its five statements in one
  snapshot and one hand-off, every key re-parsed), run here on the same store;
- full: the new full load (the first load, and the fallback when a counter went back), which
  also reads each revocation's expiry;
- nothing changed: an incremental refresh after no write;
- 10 new: an incremental refresh after 10 revocations made through the runtime (not timed).

Times are the wall time of the awaited load on an otherwise idle event loop, hand-offs included,
each after an untimed ``SELECT 1``; the garbage the full loads leave is collected (untimed) before
the incremental ones, as it is once in a process's life. On PostgreSQL the bulk insert is
followed by ANALYZE, as autovacuum would follow it. PostgreSQL is AUTHWARD_BENCH_POSTGRES_URL
(default postgresql://postgres@127.0.0.1:5432/postgres), a fresh database per size.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, select, text, update

from authward.config import load_app
from authward.runtime import Authward
from authward.settings import load_settings
from authward.store.direct import all_rows, insert_all
from authward.store.engine import begin_write, check_connection
from authward.store.keys import CURRENT_KEYS, PUBLISHED_KEYS
from authward.store.schema import changes, machine_users, oauth2_clients, revoked_tokens
from authward.tokens.jws_verify import verify_key_from_jwk

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.oauth_load import database  # noqa: E402

EXAMPLE = ROOT / "examples" / "app.py"
#: The statements of the full reload before decision 041.
_BEFORE = [
    (PUBLISHED_KEYS, "now"),
    (select(machine_users.c.id, machine_users.c.client_id), None),
    (select(oauth2_clients.c.client_id), None),
    (select(revoked_tokens.c.jti).where(revoked_tokens.c.expires_at > bindparam("now")), "now"),
    (CURRENT_KEYS, None),
]
_BATCH = 5_000


async def before(aw: Authward) -> None:
    now = datetime.now(UTC)
    published, directory, clients, revoked, current = await all_rows(
        aw.engine, [(q, {"now": now} if p else {}) for q, p in _BEFORE]
    )
    aw.keys.open_current(current)
    {r.kid: verify_key_from_jwk(r.public_jwk) for r in published}
    {str(r.id): r.client_id for r in directory}
    frozenset(r.client_id for r in clients)
    frozenset(r.jti for r in revoked)


async def fill(aw: Authward, count: int) -> None:
    """``count`` live revocations, as ``count`` revocations through the runtime would leave."""
    now = datetime.now(UTC)
    for start in range(0, count, _BATCH):
        rows = [
            {
                "jti": secrets.token_urlsafe(16),
                "expires_at": now + timedelta(seconds=3600 + i % 3600),
                "revoked_at": now,
                "reason": "bench",
                "version": i + 1,
            }
            for i in range(start, min(count, start + _BATCH))
        ]
        await insert_all(aw.engine, [(revoked_tokens.insert(), rows)])
    async with begin_write(aw.engine) as conn:
        await conn.execute(
            update(changes).where(changes.c.table_name == revoked_tokens.name).values(version=count)
        )
        if conn.dialect.name == "postgresql":
            await conn.execute(text(f"ANALYZE {revoked_tokens.name}"))


async def timed(aw: Authward, call: Callable[[], Awaitable[object]]) -> float:
    # The first statement after a read of 100,000 rows pays for what that read left behind
    # (a SELECT 1 then takes 6-10 ms on SQLite, then 0.5 ms): that belongs to the read before.
    await check_connection(aw.engine)
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def measure(url: str, size: int, rounds: int) -> dict[str, float]:
    config, _ = load_app(EXAMPLE)
    with tempfile.TemporaryDirectory(prefix="authward-bench-") as tmp:
        settings = load_settings(
            database_url=url, key_file=Path(tmp) / "authward.key", cache_refresh_seconds=300
        )
        aw = await Authward.open(config, settings, migrate=True)
        try:
            await fill(aw, size)
            views = aw.verifier.views
            await views.load()
            times: dict[str, list[float]] = {"before": [], "full": [], "none": [], "ten": []}
            for _ in range(rounds):
                times["before"].append(await timed(aw, lambda: before(aw)))
                views.reset()
                times["full"].append(await timed(aw, views.load))
                # What the full load allocated is collected once in a process's life, not on
                # each of the refreshes that follow.
                gc.collect()
                times["none"].append(await timed(aw, views.load))
                expires = datetime.now(UTC) + timedelta(hours=1)
                for _ in range(10):
                    await aw.revocations.revoke(
                        secrets.token_urlsafe(16),
                        expires_at=expires,
                        now=datetime.now(UTC),
                        reason="bench",
                    )
                times["ten"].append(await timed(aw, views.load))
            return {name: statistics.median(values) for name, values in times.items()}
        finally:
            await aw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(
        "| store | live revocations | before: full reload | full load | nothing changed | 10 new |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for kind in kinds:
        for size in args.sizes:
            with database(kind) as url:
                m = asyncio.run(measure(url, size, args.rounds))
            print(
                f"| {'SQLite' if kind == 'sqlite' else 'PostgreSQL'} | {size:,} "
                f"| {m['before']:.1f} ms | {m['full']:.1f} ms | {m['none']:.2f} ms "
                f"| {m['ten']:.2f} ms |",
                flush=True,
            )


if __name__ == "__main__":
    main()
