"""docker-compose.yml has the documented shape and validates; nginx serves TLS 1.3 only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_two_web_replicas_two_workers_one_beat_on_rabbitmq(compose):
    services = compose["services"]
    web = [n for n, s in services.items() if "gunicorn" in str(s.get("command", ""))]
    workers = [n for n, s in services.items() if " worker" in str(s.get("command", ""))]
    beats = [n for n, s in services.items() if " beat" in str(s.get("command", ""))]
    assert len(web) == 2 and len(workers) == 2 and len(beats) == 1, (web, workers, beats)
    for name in web + workers + beats:
        env = services[name]["environment"]
        assert env["CELERY_BROKER_URL"].startswith("amqp://") and "@rabbitmq:" in \
            env["CELERY_BROKER_URL"]
        assert env["DATABASE_URL"].startswith("postgres://") and "redis://" in env["REDIS_URL"]
    assert {"postgres", "redis", "rabbitmq", "nginx"} <= set(services)
    assert services["nginx"]["ports"] == ["8443:443"]


def test_nginx_is_tls_1_3_only_and_balances_both_replicas():
    conf = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    assert re.findall(r"ssl_protocols\s+([^;]+);", conf) == ["TLSv1.3"]
    assert "server web1:8000" in conf and "server web2:8000" in conf
    assert "location = /metrics { return 404; }" in conf
    assert not list((ROOT / "deploy" / "nginx").glob("*.key")), "no committed private keys"


def test_compose_file_validates(tmp_path):
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        cmd = ["docker", "compose", "config", "-q"]
    elif shutil.which("docker-compose"):
        cmd = ["docker-compose", "config", "-q"]
    else:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "FIELD_KEK": "x" * 43})
    assert r.returncode == 0, r.stderr
