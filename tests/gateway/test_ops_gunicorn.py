"""The web as deploy/gunicorn.conf.py runs it: two workers, one set of figures on /metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from devtools.servers import free_port
from infra.config import PROJECT_ROOT
from tests.rq_worker import worker_environ
from tests.support import wait_until

TOKEN = "gunicorn-metrics-token"


def test_webhook_latency_is_summed_over_gunicorn_workers(
    app_config: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    env = worker_environ({**app_config, "METRICS_TOKEN": TOKEN})
    env["WEB_CONCURRENCY"] = "2"
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log_path = tmp_path / "web.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(str(gunicorn), "-c", "deploy/gunicorn.conf.py", "gateway:create_app()"),
                "--bind",
                f"127.0.0.1:{port}",
            ],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def serving() -> bool:
            try:
                return requests.get(base + "/healthz", timeout=5).status_code == 200
            except requests.RequestException:  # not listening yet, or still booting
                return False

        wait_until(serving, timeout=30)
        assert requests.get(base + "/readyz", timeout=5).status_code == 200
        # Unsigned: refused with 403, but timed like any webhook.
        for _ in range(12):
            assert (
                requests.post(base + "/sms", data={"From": "+8613800010001"}, timeout=5).status_code
                == 403
            )
        counts = set()
        for _ in range(6):  # each scrape may reach either worker
            text = requests.get(
                base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
            ).text
            (line,) = [
                row
                for row in text.splitlines()
                if row.startswith('gateway_webhook_seconds_count{route="sms"}')
            ]
            counts.add(float(line.split()[-1]))
        assert counts == {12.0}
    finally:
        process.terminate()
        process.wait(timeout=30)
    output = log_path.read_text()
    assert "Traceback" not in output
    request_lines = [
        json.loads(row) for row in output.splitlines() if row.startswith("{") and '"/sms"' in row
    ]
    assert len(request_lines) == 12
    assert all("8613800010001" not in json.dumps(line) for line in request_lines)
