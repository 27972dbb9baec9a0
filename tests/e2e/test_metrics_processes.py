"""Two `authward serve` processes sharing PROMETHEUS_MULTIPROC_DIR (prometheus-client's
multiprocess mode): a scrape of either one counts the requests both served."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.e2e.serving import servers

TOKEN = "scraper-" + "m" * 40
HEALTHZ = re.compile(
    r'^authward_http_request_duration_seconds_count\{method="GET",route="/healthz",status="200"\}'
    r" (\S+)$",
    re.M,
)


def _healthz_count(url: str) -> float:
    scraped = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200
    found = HEALTHZ.search(scraped.text)
    assert found is not None, scraped.text
    return float(found.group(1))


def test_a_scrape_counts_every_process(workdir: Path, env: dict[str, str], tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(shared), "AUTHWARD_METRICS_TOKEN": TOKEN}
    with servers(workdir, env, 2) as (first, second):
        before = _healthz_count(first)
        for _ in range(3):
            assert httpx.get(f"{first}/healthz").status_code == 200
        for _ in range(2):
            assert httpx.get(f"{second}/healthz").status_code == 200
        assert _healthz_count(second) == before + 5
        assert _healthz_count(first) == before + 5
