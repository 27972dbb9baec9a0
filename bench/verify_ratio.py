"""Verify cost vs the raw signature check, interleaved so machine noise hits both alike.

    .venv/bin/python bench/verify_ratio.py            # both algorithms
Prints per-algorithm medians (us) of the raw check and of ``verify_access_token``, and the
median of the per-round ratios, which is the figure docs/benchmarks.md reports.

Then the same for session tokens (``Sessions.verify_token``): each round checks the raw signatures
of a batch of never-seen tokens, verifies the same tokens on first sight (the verified-token cache
on, as by default), verifies them again on a second instance of the same store whose cache is sized
0, and re-verifies cached tokens. Sessions are warmed first (the first token of a session reads
its state from the store); every timed call goes through ``complete``, so none does I/O. Distinct
tokens are a minted token's claims re-signed with ``iat`` moved back one second per round, as in
bench/test_bench_sessions.py (Ed25519 is deterministic and minting costs a store transaction).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from authward.settings import SigningAlg
from authward.tokens.jws_verify import parse_compact
from authward.tokens.session_token import sign_session_token

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_bench_sessions import open_example_uncached
from test_bench_tokens import b64d, complete, open_example

ROUNDS, BATCH = 60, 200
#: Session tokens: sessions per instance (one never-seen token each per round), and how many
#: times a round re-verifies the cached ones. ROUNDS x SESSIONS stays under the default
#: verified-token cache (10,000), so the cached tokens are never evicted mid-run.
SESSIONS, CACHED_REPEAT = 100, 10


def measure(alg: SigningAlg) -> tuple[float, float, float]:
    loop = asyncio.new_event_loop()
    # The same BATCH tokens are verified every round: with the verified-token cache (on by
    # default since it was added) every round after the first would time cache hits, not the
    # full verification this ratio is about. So the instance runs with the cache sized 0.
    aw = loop.run_until_complete(open_example_uncached(alg, Path(tempfile.mkdtemp())))
    tokens = [
        loop.run_until_complete(aw.machine_user_token("admin-machine-user")) for _ in range(BATCH)
    ]
    loop.run_until_complete(aw.verify_access_token(tokens[0]))
    view = loop.run_until_complete(aw.verifier.get())
    raw = []
    for t in tokens:
        c = parse_compact(t)
        raw.append((view.keys[c.header["kid"]].check, c.signature, c.signing_input))
    raw_us, ours_us, ratios = [], [], []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for check, sig, msg in raw:
            check(sig, msg)
        mid = time.perf_counter()
        for t in tokens:
            complete(aw.verify_access_token(t))
        end = time.perf_counter()
        raw_us.append((mid - start) / BATCH * 1e6)
        ours_us.append((end - mid) / BATCH * 1e6)
        ratios.append((end - mid) / (mid - start))
    loop.run_until_complete(aw.close())
    loop.close()
    return statistics.median(raw_us), statistics.median(ours_us), statistics.median(ratios)


def measure_sessions(alg: SigningAlg) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp())
    loop = asyncio.new_event_loop()
    aw = loop.run_until_complete(open_example(alg, tmp))
    uncached = loop.run_until_complete(open_example_uncached(alg, tmp))
    ours, off = aw.sessions, uncached.sessions
    secrets = [
        loop.run_until_complete(ours.create(f"user-{i}", claims={"name": f"User {i}"}))[0]
        for i in range(SESSIONS)
    ]
    minted = [loop.run_until_complete(ours.mint_token(s)) for s in secrets]
    for t in minted:  # warm-up with I/O: session states and keys, in both instances
        loop.run_until_complete(ours.verify_token(t))
        loop.run_until_complete(off.verify_token(t))
    key = loop.run_until_complete(aw.signing_keys.signer())
    view = loop.run_until_complete(aw.verifier.get())
    batches = []
    for r in range(ROUNDS):
        batch = []
        for t in minted:
            claims = json.loads(b64d(t.split(".")[1]))
            claims["iat"] -= 1 + r
            fresh = sign_session_token(key, claims)
            c = parse_compact(fresh)
            batch.append((fresh, view.keys[c.header["kid"]].check, c.signature, c.signing_input))
        batches.append(batch)
    raw_us, fresh_us, off_us, cached_us, ratios, off_ratios = [], [], [], [], [], []
    for batch in batches:
        t0 = time.perf_counter()
        for _, check, sig, msg in batch:
            check(sig, msg)
        t1 = time.perf_counter()
        for t, *_ in batch:
            complete(ours.verify_token(t))
        t2 = time.perf_counter()
        for t, *_ in batch:
            complete(off.verify_token(t))
        t3 = time.perf_counter()
        for _ in range(CACHED_REPEAT):
            for t in minted:
                complete(ours.verify_token(t))
        t4 = time.perf_counter()
        raw_us.append((t1 - t0) / SESSIONS * 1e6)
        fresh_us.append((t2 - t1) / SESSIONS * 1e6)
        off_us.append((t3 - t2) / SESSIONS * 1e6)
        cached_us.append((t4 - t3) / (SESSIONS * CACHED_REPEAT) * 1e6)
        ratios.append((t2 - t1) / (t1 - t0))
        off_ratios.append((t3 - t2) / (t1 - t0))
    loop.run_until_complete(uncached.close())
    loop.run_until_complete(aw.close())
    loop.close()
    return {
        "raw": statistics.median(raw_us),
        "fresh": statistics.median(fresh_us),
        "ratio": statistics.median(ratios),
        "off": statistics.median(off_us),
        "off_ratio": statistics.median(off_ratios),
        "cached": statistics.median(cached_us),
    }


if __name__ == "__main__":
    for alg in ("EdDSA", "ES256"):
        raw, ours, ratio = measure(alg)  # type: ignore[arg-type]
        print(
            f"{alg}: raw signature verify {raw:.1f} us, verify_access_token {ours:.1f} us, "
            f"ratio {ratio:.2f}"
        )
    for alg in ("EdDSA", "ES256"):
        m = measure_sessions(alg)  # type: ignore[arg-type]
        print(
            f"{alg} session token: raw signature verify {m['raw']:.1f} us, verify_token first "
            f"sight {m['fresh']:.1f} us, ratio {m['ratio']:.2f}; cache off {m['off']:.1f} us, "
            f"ratio {m['off_ratio']:.2f}; cached {m['cached']:.2f} us "
            f"({1e6 / m['cached']:,.0f}/s)"
        )
