"""Verify cost vs the raw signature check, interleaved so machine noise hits both alike.

    .venv/bin/python bench/verify_ratio.py            # both algorithms
Prints per-algorithm medians (us) of the raw check and of ``verify_access_token``, and the
median of the per-round ratios, which is the figure docs/benchmarks.md reports.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from authward.settings import SigningAlg
from authward.tokens.jws_verify import parse_compact

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_bench_tokens import complete, open_example

ROUNDS, BATCH = 60, 200


def measure(alg: SigningAlg) -> tuple[float, float, float]:
    loop = asyncio.new_event_loop()
    aw = loop.run_until_complete(open_example(alg, Path(tempfile.mkdtemp())))
    tokens = [
        loop.run_until_complete(aw.machine_user_token("admin-machine-user")) for _ in range(BATCH)
    ]
    loop.run_until_complete(aw.verify_access_token(tokens[0]))
    view = loop.run_until_complete(aw._load_view())
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


if __name__ == "__main__":
    for alg in ("EdDSA", "ES256"):
        raw, ours, ratio = measure(alg)  # type: ignore[arg-type]
        print(
            f"{alg}: raw signature verify {raw:.1f} us, verify_access_token {ours:.1f} us, "
            f"ratio {ratio:.2f}"
        )
