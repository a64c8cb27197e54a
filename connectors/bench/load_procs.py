"""Memory and CPU of the stack's processes during a load run (psutil, children included).

The bench knows the pids of a stack it started; for a stack given by URL it finds the process
listening on each port (needs the right to see other users' sockets; otherwise that figure is None).
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import psutil


def listening_pid(url: str) -> int | None:
    """The pid listening on ``url``'s port on this machine, if visible."""
    port = urlsplit(url).port
    if port is None:
        return None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return int(conn.pid)
    except (psutil.AccessDenied, PermissionError):
        return None
    return None


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_rss_mb(pid: int) -> float | None:
    try:
        return sum(p.memory_info().rss for p in _tree(pid)) / 2**20
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def tree_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of the process and its children so far."""
    try:
        total = 0.0
        for p in _tree(pid):
            t = p.cpu_times()
            total += t.user + t.system
        return total
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


class RssSampler:
    """Samples the RSS of named process trees every ``interval_s`` in a thread; keeps the peak."""

    def __init__(self, pids: dict[str, int | None], interval_s: float = 1.0) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.peak: dict[str, float | None] = {name: None for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def sample(self) -> None:
        for name, pid in self.pids.items():
            rss = tree_rss_mb(pid) if pid else None
            if rss is not None:
                self.peak[name] = max(self.peak[name] or 0.0, rss)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()

    def peaks_mb(self) -> dict[str, float | None]:
        return {name: (round(v, 1) if v is not None else None) for name, v in self.peak.items()}


class CpuMeter:
    """CPU seconds used by each process tree (and by this process, the load generator) over a block."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self.used: dict[str, float | None] = {}

    def _now(self) -> dict[str, float | None]:
        now = {name: (tree_cpu_s(pid) if pid else None) for name, pid in self.pids.items()}
        t = psutil.Process().cpu_times()
        now["client"] = t.user + t.system
        return now

    def __enter__(self) -> CpuMeter:
        self._start = self._now()
        return self

    def __exit__(self, *_: object) -> None:
        end = self._now()
        self.used = {
            name: (round(end[name] - self._start[name], 2)  # type: ignore[operator]
                   if end.get(name) is not None and self._start.get(name) is not None else None)
            for name in end
        }
