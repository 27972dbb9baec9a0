"""`authward serve` writes JSON log lines by default (text when AUTHWARD_LOG_FORMAT=text), one
access record per request with its request id, route, status and latency; and its metrics can
move to a port of their own."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.e2e.serving import start
from tests.peers import free_port


def _stop(proc: object) -> str:
    proc.terminate()  # type: ignore[attr-defined]
    _, stderr = proc.communicate(timeout=60)  # type: ignore[attr-defined]
    return str(stderr)


def test_json_access_log_and_metrics_port(workdir: Path, env: dict[str, str]) -> None:
    metrics = free_port()
    proc, url = start(
        workdir,
        {**env, "AUTHWARD_PORT": str(free_port()), "AUTHWARD_METRICS_PORT": str(metrics)},
    )
    try:
        answer = httpx.get(f"{url}/readyz", headers={"X-Request-ID": "probe-1"})
        assert answer.status_code == 200
        scraped = httpx.get(f"http://127.0.0.1:{metrics}/metrics")
        assert scraped.status_code == 200
        assert 'route="/readyz"' in scraped.text
        assert httpx.get(f"{url}/metrics").status_code == 404
    finally:
        stderr = _stop(proc)
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    ours = [r for r in lines if r.get("request_id") == "probe-1"]
    (record,) = [r for r in ours if r["logger"] == "authward.access"]
    assert record["level"] == "info"
    assert record["route"] == record["path"] == "/readyz"
    assert record["message"].startswith("GET /readyz 200 ")
    assert record["status"] == 200
    assert record["method"] == "GET"
    assert isinstance(record["duration_ms"], float)
    assert "Traceback" not in stderr


def test_text_logs_when_asked(workdir: Path, env: dict[str, str]) -> None:
    proc, url = start(
        workdir, {**env, "AUTHWARD_PORT": str(free_port()), "AUTHWARD_LOG_FORMAT": "text"}
    )
    try:
        httpx.get(f"{url}/healthz", headers={"X-Request-ID": "probe-2"})
    finally:
        stderr = _stop(proc)
    (line,) = [x for x in stderr.splitlines() if "request_id=probe-2" in x]
    assert " INFO authward.access: GET /healthz 200 " in line
