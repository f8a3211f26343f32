"""Without cloud credentials (always so here), `tunecost launch` against the real installed SkyPilot fails with one
line pointing to `sky check`, records nothing, and stops the local API server it started.

Isolation: HOME, SKY_RUNTIME_DIR and TUNECOST_HOME live in tmp_path, and the API server gets its own free port
(SKYPILOT_API_SERVER_LOCAL_PORT), so `sky api stop` in the cleanup can only reach the server this test started.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psutil
import pytest

from tunecost.launcher.ledger.store import Ledger

from .conftest import SINGLE


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _servers_on(port: int) -> list[int]:
    found = []
    for proc in psutil.process_iter(attrs=["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "sky.server.server" in cmd and f"--port={port}" in cmd:
            found.append(proc.info["pid"])
    return found


@pytest.mark.slow  # starts SkyPilot's real API server (about 10 s)
def test_launch_without_credentials_is_one_line_and_leaves_nothing(tmp_path, write_plan):
    port = _free_port()
    env = {**os.environ, "HOME": str(tmp_path / "user"), "SKY_RUNTIME_DIR": str(tmp_path / "skyrt"),
           "SKYPILOT_API_SERVER_LOCAL_PORT": str(port), "TUNECOST_HOME": str(tmp_path / "tc"),
           "HF_TOKEN": "secret-value"}
    (tmp_path / "user").mkdir()
    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hi"}\n')
    try:
        result = subprocess.run(
            [sys.executable, "-c", "from tunecost.launcher.cli import main; main()", "launch",
             str(write_plan(SINGLE)), "--dataset", str(dataset), "--bucket", "my-ckpts"],
            env=env, capture_output=True, text=True, timeout=240)
        assert _servers_on(port) == [], "the launcher must stop the API server it started"
    finally:
        if _servers_on(port):
            subprocess.run([sys.executable, "-c", "import sky; sky.api_stop()"], env=env, timeout=60,
                           capture_output=True)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: no cloud credentials are set up for SkyPilot; run `sky check` to enable a cloud "
                      "(or run on this machine with `tunecost launch --local`)"]
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert "Traceback" not in result.stderr
    assert Ledger(tmp_path / "tc").list() == []  # decided: a launch refused before submission records nothing
    assert list((tmp_path / "tc" / "runs").glob("*")) == []  # the staged job folder is removed too
