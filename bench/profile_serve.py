"""`authward` with cProfile switched on and off by signals (`bench/oauth_load.py --profile`).

    python bench/profile_serve.py serve --app APP     # same arguments as `authward`

SIGUSR1 starts profiling, SIGUSR2 stops it and writes the stats to $AUTHWARD_BENCH_PROFILE, so
start-up and shutdown stay out of the figures. cProfile sees the event-loop thread only: time
the SQLite driver spends in its own thread shows up as waiting (`select.epoll.poll`).
"""

from __future__ import annotations

import cProfile
import os
import signal
from types import FrameType

from authward.cli.main import main

profiler = cProfile.Profile()


def start(signum: int, frame: FrameType | None) -> None:
    profiler.enable()


def stop(signum: int, frame: FrameType | None) -> None:
    profiler.disable()
    profiler.dump_stats(os.environ["AUTHWARD_BENCH_PROFILE"])


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    main()
