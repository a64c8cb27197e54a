"""Starts Rasa, the action server and the gateway, waits until all are healthy, stops them cleanly.

Used by ``make run`` (via ``govbot run``) and by the end-to-end test fixtures, so the tests start
the stack exactly the way a user does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from connectors.config import PROJECT_ROOT, Settings, resolve_path
from connectors.rasa_model import model_path, rasa_bin, rasa_env


class StartupError(RuntimeError):
    pass


@dataclass
class Service:
    name: str
    cmd: list[str]
    health_url: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.cmd, cwd=PROJECT_ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal goes to us; we stop children in order
        )

    def healthy(self) -> bool:
        try:
            return httpx.get(self.health_url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def stack_env(settings: Settings) -> dict[str, str]:
    """Environment shared by the three processes; fills the ${...} values of bot/endpoints.yml."""
    env = rasa_env()
    tracker_host = env.get("GOVBOT_TRACKER_HOST", settings.rasa.tracker_host)
    tracker_db = settings.rasa.tracker_db
    if settings.rasa.tracker_dialect == "sqlite":
        tracker_db = str(resolve_path(tracker_db))
        Path(tracker_db).parent.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "GOVBOT_ACTION_ENDPOINT": f"{settings.actions.base_url}/webhook",
            "GOVBOT_TRACKER_DIALECT": settings.rasa.tracker_dialect,
            "GOVBOT_TRACKER_HOST": tracker_host,
            "GOVBOT_TRACKER_DB": tracker_db,
            "GOVBOT_LOCK_STORE": env.get("GOVBOT_LOCK_STORE", "in_memory"),
            "GOVBOT_LOCK_STORE_HOST": env.get("GOVBOT_LOCK_STORE_HOST", "127.0.0.1"),
            "GOVBOT_LOCK_STORE_PORT": env.get("GOVBOT_LOCK_STORE_PORT", "6379"),
            "GOVBOT_LOCK_STORE_DB": env.get("GOVBOT_LOCK_STORE_DB", "1"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def build_services(settings: Settings, log_dir: Path, env: dict[str, str] | None = None) -> list[Service]:
    env = env or stack_env(settings)
    python = sys.executable
    model = model_path(settings)
    return [
        Service(
            "rasa",
            [str(rasa_bin()), "run", "--enable-api", "--model", str(model),
             "--endpoints", "bot/endpoints.yml", "--credentials", "bot/credentials.yml",
             "-i", settings.rasa.host, "-p", str(settings.rasa.port)],
            f"{settings.rasa.base_url}/status",
            env,
            log_dir / "rasa.log",
        ),
        Service(
            "actions",
            [python, "-m", "bot.actions.server", "--host", settings.actions.host, "--port", str(settings.actions.port)],
            f"{settings.actions.base_url}/kb/status",
            env,
            log_dir / "actions.log",
        ),
        Service(
            "gateway",
            [python, "-m", "uvicorn", "connectors.app:create_app", "--factory",
             "--host", settings.gateway.host, "--port", str(settings.gateway.port), "--no-access-log"],
            f"http://{settings.gateway.host}:{settings.gateway.port}/openapi.json",
            env,
            log_dir / "gateway.log",
        ),
    ]


class Stack:
    def __init__(self, settings: Settings, log_dir: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.services = build_services(settings, log_dir or resolve_path("var/log"), env)

    def start(self, timeout: float = 240.0) -> None:
        for service in self.services:
            service.start()
        deadline = time.monotonic() + timeout
        pending = list(self.services)
        while pending:
            for service in list(pending):
                if not service.alive():
                    self.stop()
                    raise StartupError(f"{service.name} exited during start-up:\n{service.tail()}")
                if service.healthy():
                    pending.remove(service)
            if pending and time.monotonic() > deadline:
                names = ", ".join(s.name for s in pending)
                tails = "\n".join(f"--- {s.name}\n{s.tail()}" for s in pending)
                self.stop()
                raise StartupError(f"not healthy after {timeout:.0f}s: {names}\n{tails}")
            time.sleep(0.5)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def stop(self) -> None:
        # the gateway first, so no new message reaches a stopping Rasa
        for service in reversed(self.services):
            service.stop()

    def watch(self) -> str | None:
        """Block until a service dies (returns its name) or we are interrupted."""
        while True:
            for service in self.services:
                if not service.alive():
                    return service.name
            time.sleep(1.0)
