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
from urllib.parse import unquote, urlsplit

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


def lock_store_env(settings: Settings) -> dict[str, str]:
    """Rasa's lock store from ``[redis]``: in memory for one Rasa server, Redis when ``url`` is set.

    The lock store makes each Rasa server handle one message per conversation at a time; with several
    Rasa servers behind several gateways only a shared (Redis) lock keeps a conversation's turns in
    order. Rasa takes host, port, db and password separately, and a key prefix of letters and digits.
    """
    redis = settings.redis
    if not redis.enabled:
        return {"GOVBOT_LOCK_STORE": "in_memory", "GOVBOT_LOCK_STORE_HOST": "", "GOVBOT_LOCK_STORE_PORT": "6379",
                "GOVBOT_LOCK_STORE_DB": "0", "GOVBOT_LOCK_STORE_PASSWORD": "", "GOVBOT_LOCK_STORE_PREFIX": ""}
    url = urlsplit(redis.url)
    if url.scheme != "redis":
        # Rasa's lock store takes use_ssl as a boolean, which ${...} values in endpoints.yml cannot be
        raise ValueError(f"[redis] url must be redis://[:password@]host:port/db, got {redis.url!r}")
    db = url.path.strip("/") or "0"
    prefix = "".join(ch for ch in redis.key_prefix if ch.isalnum()) or "govbot"
    return {
        "GOVBOT_LOCK_STORE": "redis",
        "GOVBOT_LOCK_STORE_HOST": url.hostname or "127.0.0.1",
        "GOVBOT_LOCK_STORE_PORT": str(url.port or 6379),
        "GOVBOT_LOCK_STORE_DB": db,
        "GOVBOT_LOCK_STORE_PASSWORD": unquote(url.password or ""),
        "GOVBOT_LOCK_STORE_PREFIX": prefix,
    }


def tracker_env(settings: Settings) -> dict[str, str]:
    """Rasa's SQL tracker store: a SQLite file by default; ``tracker_dialect = "postgresql"`` with
    ``tracker_host`` (``host:port``, or a full ``postgresql://…`` URL) and ``tracker_db``. User and
    password are secrets: ``GOVBOT_RASA_TRACKER_USER`` / ``GOVBOT_RASA_TRACKER_PASSWORD``."""
    rasa = settings.rasa
    tracker_db = rasa.tracker_db
    if rasa.tracker_dialect == "sqlite":
        tracker_db = str(resolve_path(tracker_db))
        Path(tracker_db).parent.mkdir(parents=True, exist_ok=True)
    return {
        "GOVBOT_TRACKER_DIALECT": rasa.tracker_dialect,
        "GOVBOT_TRACKER_HOST": rasa.tracker_host,
        "GOVBOT_TRACKER_DB": tracker_db,
        "GOVBOT_TRACKER_USER": os.environ.get("GOVBOT_RASA_TRACKER_USER", ""),
        "GOVBOT_TRACKER_PASSWORD": os.environ.get("GOVBOT_RASA_TRACKER_PASSWORD", ""),
    }


def stack_env(settings: Settings) -> dict[str, str]:
    """Environment shared by the three processes; fills the ${...} values of bot/endpoints.yml."""
    env = rasa_env()
    env.update(
        {
            "GOVBOT_ACTION_ENDPOINT": f"{settings.actions.base_url}/webhook",
            **tracker_env(settings),
            **lock_store_env(settings),
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
    """Processes started together and stopped in reverse order: the three of ``make run`` by default,
    or any ``services`` (several gateways and Rasa servers of a scale-out test), all started at once."""

    def __init__(self, settings: Settings, log_dir: Path | None = None, env: dict[str, str] | None = None,
                 services: list[Service] | None = None) -> None:
        self.settings = settings
        self.services = services if services is not None else build_services(
            settings, log_dir or resolve_path("var/log"), env)

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


def main(argv: list[str] | None = None) -> int:
    """One process of the stack in the foreground, for deployments that run each under systemd, a
    container or a supervisor on its own machine: ``python -m connectors.launcher gateway`` (or
    ``rasa`` / ``actions``) starts it exactly as ``make run`` would, with the ``${...}`` values of
    bot/endpoints.yml filled from govbot.toml and GOVBOT_* overrides; ``env`` prints those values."""
    import argparse
    import shlex

    from connectors.config import load_settings

    parser = argparse.ArgumentParser(prog="python -m connectors.launcher", description=main.__doc__)
    parser.add_argument("what", choices=["rasa", "actions", "gateway", "env"])
    args = parser.parse_args(argv)
    settings = load_settings()
    env = stack_env(settings)
    if args.what == "env":
        for key in sorted({"GOVBOT_ACTION_ENDPOINT", *tracker_env(settings), *lock_store_env(settings)}):
            print(f"export {key}={shlex.quote(env[key])}")
        return 0
    service = next(s for s in build_services(settings, resolve_path("var/log"), env) if s.name == args.what)
    os.chdir(PROJECT_ROOT)
    os.execvpe(service.cmd[0], service.cmd, service.env)  # replaces this process: signals reach it directly
    return 1  # pragma: no cover - exec does not return


if __name__ == "__main__":
    raise SystemExit(main())
