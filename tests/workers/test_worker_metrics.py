"""A real `rq worker` with WORKER_METRICS_PORT serves its jobs' counts; its log is JSON lines."""

from __future__ import annotations

import json
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue

from devtools.servers import free_port
from tests.rq_worker import running_worker
from tests.support import wait_until


def samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_worker_serves_its_job_counts(app_config: dict[str, Any], redis_client: Redis) -> None:
    port = free_port()
    config = {**app_config, "WORKER_METRICS_PORT": port}
    queue = Queue("default", connection=redis_client)
    with running_worker(config, ["default"], with_scheduler=False, check=False) as worker:
        ok = queue.enqueue("builtins.len", "+8613800010001")
        queue.enqueue("builtins.len", "abc")
        failed = queue.enqueue("builtins.int", "not a number")
        worker.wait_idle(timeout=60)

        def counted() -> bool:
            try:
                found = samples(port)
            except requests.RequestException:
                return False
            return (
                found.get(("gateway_jobs_total", (("func", "builtins.int"), ("outcome", "failed"))))
                == 1
            )

        wait_until(counted, timeout=30)
        found = samples(port)
        assert found[("gateway_jobs_total", (("func", "builtins.len"), ("outcome", "ok")))] == 2
        assert found[("gateway_job_seconds_count", (("func", "builtins.len"),))] == 2
        output = worker.output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line.get("job_id") == failed.id for line in lines)
    assert any(ok.id in line["message"] for line in lines)
    assert "8613800010001" not in output  # the job's argument, masked in RQ's own lines
