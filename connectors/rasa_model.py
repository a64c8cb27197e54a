"""Training the Rasa model only when its inputs changed.

The model's inputs are the pipeline/policy config, the domain, the training data and the jieba
dictionary. Their content hash is stored next to the model; ``make run`` retrains only when the
hash differs, so a restart takes seconds and an edit of nlu.yml is never served stale.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from connectors.config import PROJECT_ROOT, Settings, resolve_path

MODEL_NAME = "govbot"
MODEL_INPUTS = ("bot/config.yml", "bot/domain.yml", "training_data", "knowledge_base/data/jieba")


def rasa_bin() -> Path:
    """The ``rasa`` executable of the Python 3.10 venv (``GOVBOT_RASA_BIN`` overrides)."""
    return Path(os.environ.get("GOVBOT_RASA_BIN") or PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa")


def inputs_hash(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256()
    for name in MODEL_INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(b"\0")
            digest.update(file.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelState:
    model: Path
    trained: bool
    seconds: float


def model_path(settings: Settings) -> Path:
    return resolve_path(settings.rasa.model_dir) / f"{MODEL_NAME}.tar.gz"


def rasa_env() -> dict[str, str]:
    """Environment for Rasa processes: quiet TensorFlow, sane thread counts for 2 cores."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    env.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", "2")
    env.setdefault("TF_INTER_OP_PARALLELISM_THREADS", "1")
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    return env


def ensure_trained(settings: Settings, force: bool = False, stream=sys.stdout) -> ModelState:
    model = model_path(settings)
    stamp = model.with_suffix(".inputs-sha256")
    wanted = inputs_hash()
    if not force and model.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return ModelState(model, False, 0.0)
    model.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"[govbot] training the Rasa model (inputs changed) → {model}", file=stream, flush=True)
    cmd = [
        str(rasa_bin()), "train",
        "--config", "bot/config.yml",
        "--domain", "bot/domain.yml",
        "--data", "training_data",
        "--out", str(model.parent),
        "--fixed-model-name", MODEL_NAME,
        "--force",
    ]
    subprocess.run(cmd, cwd=PROJECT_ROOT, env=rasa_env(), check=True)
    stamp.write_text(wanted + "\n")
    return ModelState(model, True, time.perf_counter() - started)
