"""What the store's statement paths cost in-process: the hot-path helpers of store/direct.py and
SQLAlchemy's own execution, per operation, on SQLite and PostgreSQL (decision 043).

    .venv/bin/python bench/store_paths.py [--database sqlite|postgresql|both] [--rounds 5]
        [--ops 400] [--baseline SRC] [--cpu 0]

Each round runs one child process per contender (this checkout, and with ``--baseline`` the
authward package under SRC, e.g. ``git archive REV src | tar -x -C DIR``), the order flipping
every round, each on uvloop as ``authward serve`` runs, pinned to ``--cpu``. A child times
``--ops`` sequential runs of each operation and reports the CPU time of the whole process (the
event loop and aiosqlite's threads) and the wall time per operation; the table gives the
medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "AUTHWARD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

OPERATIONS = (
    "first_row",
    "insert_all, 1 row",
    "insert_all, 2 batches",
    "write_returning + then",
    "all_rows, 5 queries",
    "SQLAlchemy read",
    "SQLAlchemy write transaction",
)


async def child(url: str, ops: int) -> dict[str, tuple[float, float]]:
    from sqlalchemy import bindparam, select, update

    from authward.store.audit import AuditEvent, audit_rows
    from authward.store.direct import all_rows, first_row, insert_all, write_returning
    from authward.store.engine import begin_write, create_engine
    from authward.store.schema import audit_events, metadata, revoked_tokens

    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)

    def revoked() -> dict[str, Any]:
        now = datetime.now(UTC)
        return {"jti": uuid.uuid4().hex, "expires_at": now, "revoked_at": now, "reason": "b"}

    known = revoked()
    await insert_all(engine, [(revoked_tokens.insert(), [known])])
    by_jti = select(revoked_tokens).where(revoked_tokens.c.jti == bindparam("jti"))
    touch = (
        update(revoked_tokens)
        .where(revoked_tokens.c.jti == bindparam("jti"))
        .values(reason=bindparam("reason"))
        .returning(revoked_tokens.c.jti, revoked_tokens.c.reason)
    )
    newest = select(audit_events).order_by(audit_events.c.id.desc()).limit(5)
    queries = [(by_jti, {"jti": known["jti"]})] * 4 + [(newest, {})]

    def event() -> AuditEvent:
        return AuditEvent("bench.store", datetime.now(UTC), actor="a", detail={"n": 1})

    async def sqlalchemy_read() -> None:
        async with engine.connect() as conn:
            (await conn.execute(by_jti, {"jti": known["jti"]})).one()

    async def sqlalchemy_write() -> None:
        async with begin_write(engine) as conn:
            await conn.execute(revoked_tokens.insert().values(revoked()))

    steps: dict[str, Callable[[], Awaitable[Any]]] = {
        "first_row": lambda: first_row(engine, by_jti, {"jti": known["jti"]}),
        "insert_all, 1 row": lambda: insert_all(engine, [(revoked_tokens.insert(), [revoked()])]),
        "insert_all, 2 batches": lambda: insert_all(
            engine, [audit_rows([event()]), (revoked_tokens.insert(), [revoked()])]
        ),
        "write_returning + then": lambda: write_returning(
            engine, touch, {"jti": known["jti"], "reason": "x"}, then=queries[0]
        ),
        "all_rows, 5 queries": lambda: all_rows(engine, queries),
        "SQLAlchemy read": sqlalchemy_read,
        "SQLAlchemy write transaction": sqlalchemy_write,
    }
    out: dict[str, tuple[float, float]] = {}
    for name, step in steps.items():
        for _ in range(ops // 10):  # warm-up: pool, compiled statements
            await step()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(ops):
            await step()
        out[name] = ((time.process_time() - cpu) / ops, (time.perf_counter() - wall) / ops)
    await engine.dispose()
    return out


def run_child(src: Path | None, url: str, ops: int, cpu: str) -> dict[str, tuple[float, float]]:
    env = {**os.environ, **({"PYTHONPATH": str(src.resolve())} if src is not None else {})}
    command = ["taskset", "-c", cpu, sys.executable, __file__, "--child", url, "--ops", str(ops)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return {k: tuple(v) for k, v in json.loads(out.splitlines()[-1]).items()}  # type: ignore[misc]


def database(kind: str) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        tmp = tempfile.mkdtemp(prefix="authward-bench-store-")
        return f"sqlite+aiosqlite:///{tmp}/store.db", lambda: None
    import asyncpg  # type: ignore[import-untyped]

    name = f"aw_bench_{secrets.token_hex(6)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    return (
        f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}",
        lambda: asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)')),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ops", type=int, default=400)
    parser.add_argument("--baseline", type=Path, metavar="SRC")
    parser.add_argument("--cpu", default="0", help="the CPU the children are pinned to")
    args = parser.parse_args()
    if args.child:
        import uvloop

        print(json.dumps(uvloop.run(child(args.child, args.ops))))
        return
    contenders: dict[str, Path | None] = {"current": None}
    if args.baseline is not None:
        contenders["baseline"] = args.baseline
    for kind in ["sqlite", "postgresql"] if args.database == "both" else [args.database]:
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for r in range(args.rounds):
            names = list(contenders) if r % 2 == 0 else list(contenders)[::-1]
            for name in names:
                url, drop = database(kind)
                try:
                    for op, value in run_child(contenders[name], url, args.ops, args.cpu).items():
                        results.setdefault((name, op), []).append(value)
                finally:
                    drop()
            print(f"  {kind}: round {r + 1} of {args.rounds} done", file=sys.stderr, flush=True)
        header = " | ".join(f"{n} CPU | {n} wall" for n in contenders)
        print(f"\n{kind} (µs per operation, medians of {args.rounds} rounds)\n")
        print(
            f"| operation | {header} |" + (" CPU after / before |" if len(contenders) == 2 else "")
        )
        print("| --- |" + " ---: |" * (2 * len(contenders) + (len(contenders) == 2)))
        for op in OPERATIONS:
            cells, cpus = [], []
            for name in contenders:
                runs = results[(name, op)]
                cpus.append(statistics.median(c for c, _ in runs))
                cells.append(
                    f"{cpus[-1] * 1e6:.0f} | {statistics.median(w for _, w in runs) * 1e6:.0f}"
                )
            ratio = f" {cpus[0] / cpus[1]:.2f} |" if len(cpus) == 2 else ""
            print(f"| {op} | " + " | ".join(cells) + " |" + ratio)


if __name__ == "__main__":
    main()
