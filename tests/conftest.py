"""Shared fixtures. End-to-end fixtures start the real processes exactly as ``make run`` does."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# in-process code (actions under test) must never touch the developer's var/govbot.db
_TEST_VAR = Path(tempfile.mkdtemp(prefix="govbot-tests-"))
os.environ["GOVBOT_DATABASE_URL"] = f"sqlite:///{_TEST_VAR / 'govbot.db'}"

ROOT = Path(__file__).resolve().parent.parent

from connectors.bench.stack import free_port  # noqa: E402  (after the environment above is set)

__all__ = ["ROOT", "free_port"]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def e2e_settings(tmp_path_factory: pytest.TempPathFactory):
    """Settings for a private stack: own ports, own databases, the trained model of var/models."""
    from connectors.bench.stack import ModelMissing, private_settings

    work = tmp_path_factory.mktemp("stack")
    try:
        return private_settings(work), work
    except ModelMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def stack(e2e_settings) -> Iterator[object]:
    from connectors.bench.stack import private_env
    from connectors.launcher import Stack

    settings, work = e2e_settings
    env = private_env(settings)
    s = Stack(settings, log_dir=work / "logs", env=env)
    s.start(timeout=300)
    s.base_url = f"http://{settings.gateway.host}:{settings.gateway.port}"  # type: ignore[attr-defined]
    yield s
    s.stop()
