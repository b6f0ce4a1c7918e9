"""A local `prefect server start` for `jingxuan schedule` and tests, bound to 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass


@dataclass
class LocalServer:
    process: subprocess.Popen
    port: int
    log_path: str

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_local_server(port: int = 4200, home: str | None = None, timeout: float = 180) -> LocalServer:
    """Start the server and wait until /api/health answers (a cold database migrates for ~30 s)."""
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    if home:
        env["PREFECT_HOME"] = home
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    log_dir = home or os.path.join(os.path.expanduser("~"), ".prefect")
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, f"jingxuan-server-{port}.log")
    log = open(log_path, "ab")  # noqa: SIM115 - the server outlives this function
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    server = LocalServer(proc, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(server.api_url + "/health", timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"prefect server did not answer on port {port} within {timeout:.0f} s; see {log_path}")
