"""Wall time of ``authward --help`` and of one ``--help`` per command group (a new process each,
as a user or a script starts it), interleaved so machine noise hits every command alike.

    .venv/bin/python bench/cli_startup.py [--runs 15] [--root-only]

Prints one line per command: the median and the fastest of the runs, in milliseconds. The
figure docs/benchmarks.md reports is the median of ``authward --help`` (target: 500 ms or less
on a quiet machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from authward.cli.main import COMMANDS


def _authward() -> str:
    found = shutil.which("authward", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("authward is not installed beside this Python (pip install -e .)")
    return found


def _time(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=os.environ)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    parser.add_argument("--root-only", action="store_true", help="only `authward --help`")
    given = parser.parse_args()
    runs = given.runs
    exe = _authward()
    # Groups once each; serve, migrate and generate share one module (serve stands for them).
    seen: set[tuple[str, str | None]] = set()
    commands: list[list[str]] = [[]]
    for name, lazy in COMMANDS.items():
        if not given.root_only and (lazy.module, lazy.attribute) not in seen:
            seen.add((lazy.module, lazy.attribute))
            commands.append([name])
    labels = [" ".join(["authward", *c, "--help"]) for c in commands]
    times: dict[str, list[float]] = {label: [] for label in labels}
    _time([exe, "--help"])  # warm the file system cache and the bytecode
    for _ in range(runs):
        for label, command in zip(labels, commands, strict=True):
            times[label].append(_time([exe, *command, "--help"]))
    width = max(map(len, labels))
    print(f"{'command'.ljust(width)}  median ms  fastest ms  ({runs} runs each)")
    for label, samples in times.items():
        median, fastest = statistics.median(samples) * 1000, min(samples) * 1000
        print(f"{label.ljust(width)}  {median:9.0f}  {fastest:10.0f}")


if __name__ == "__main__":
    main()
