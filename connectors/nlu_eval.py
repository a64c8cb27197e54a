"""``make eval-nlu``: train the NLU pipeline on our training data, test it on the held-out set.

The held-out set (tests/nlu/nlu_test.yml) was written separately from the training examples and is
never trained on, so the figures estimate what unseen citizens get.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from connectors.config import PROJECT_ROOT
from connectors.rasa_model import rasa_bin, rasa_env

TEST_SET = PROJECT_ROOT / "tests" / "nlu" / "nlu_test.yml"


def _f1(report: dict, key: str) -> float | None:
    row = report.get(key)
    return float(row["f1-score"]) if isinstance(row, dict) and "f1-score" in row else None


def evaluate(keep: bool = False) -> int:
    work = Path(tempfile.mkdtemp(prefix="govbot-eval-nlu-"))
    env = rasa_env()
    try:
        subprocess.run(
            [str(rasa_bin()), "train", "nlu", "--config", "bot/config.yml", "--nlu", "training_data",
             "--out", str(work), "--fixed-model-name", "nlu-eval"],
            cwd=PROJECT_ROOT, env=env, check=True,
        )
        results = work / "results"
        subprocess.run(
            [str(rasa_bin()), "test", "nlu", "--model", str(work / "nlu-eval.tar.gz"), "--nlu", str(TEST_SET),
             "--out", str(results), "--no-plot"],
            cwd=PROJECT_ROOT, env=env, check=True,
        )
        intents = json.loads((results / "intent_report.json").read_text())
        print("\n=== govbot NLU evaluation (held-out set: tests/nlu/nlu_test.yml) ===")
        print(f"intent macro-F1 : {_f1(intents, 'macro avg'):.4f}")
        print(f"intent accuracy : {float(intents.get('accuracy', 0)):.4f}")
        worst = sorted(
            ((name, row["f1-score"]) for name, row in intents.items()
             if isinstance(row, dict) and "f1-score" in row and name not in {"macro avg", "weighted avg", "micro avg"}),
            key=lambda item: item[1],
        )[:5]
        print("weakest intents : " + ", ".join(f"{n} {f:.2f}" for n, f in worst))
        for report in sorted(results.glob("*Extractor_report.json")) + sorted(results.glob("DIETClassifier_report.json")):
            data = json.loads(report.read_text())
            extractor = report.name.removesuffix("_report.json")
            micro = _f1(data, "micro avg")
            macro = _f1(data, "macro avg")
            print(f"entity F1 ({extractor}) : micro {micro if micro is None else round(micro, 4)}, "
                  f"macro {macro if macro is None else round(macro, 4)}")
        if keep:
            print(f"reports kept in {results}")
        return 0
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
