"""``crm-es serve`` on an empty data directory: starts its embedded PostgreSQL, answers, stops it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from crm_es.store import EmbeddedPostgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_starts_on_an_empty_data_directory_and_stops_its_database_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_ES_")}
    env.update(CRM_ES_DATA_DIR=str(tmp_path / "data"), CRM_ES_PORT=str(port), CRM_ES_LOG_LEVEL="warning",
               CRM_ES_ADMIN_USERNAME="boss", CRM_ES_ADMIN_PASSWORD="boss-password-1")  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "crm_es.cli", "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "serve did not answer /healthz within 60 s"
            time.sleep(0.2)
        login = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login", json={"username": "boss", "password": "boss-password-1"})
        assert login.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["status"] == "ready"
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0].decode()
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells of it.
    assert process.returncode in (0, -signal.SIGTERM), output
    pgdata = EmbeddedPostgres(tmp_path / "data").pgdata
    assert (pgdata / "PG_VERSION").exists()
    assert not (pgdata / "postmaster.pid").exists(), "the embedded PostgreSQL outlived crm-es serve"
