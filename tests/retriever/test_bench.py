"""``govbot-bench faq`` runs end to end on tiny TSV files and emits every documented key."""
from __future__ import annotations

import json

from knowledge_base.bench.faq import main, split_dev, synthetic_kb

KEYS = {"recall_at_1", "recall_at_5", "mrr_at_10", "decline_precision", "decline_recall",
        "decline_f1", "answered_accuracy", "p50_ms", "p95_ms", "build_s", "rss_mb"}


def _write(path, header, rows):
    path.write_text(header + "\n" + "\n".join("\t".join(r) for r in rows) + "\n", "utf-8")
    return str(path)


def test_bench_cli_json(tmp_path, capsys, st_encoder):
    kb = _write(tmp_path / "kb.tsv", "id\tquestion", [("Q1", "如何办理居住证"), ("Q2", "社保卡丢了怎么补办"),
                                                      ("Q3", "营业执照需要什么材料")])
    sim = _write(tmp_path / "s.tsv", "query\tgold", [("居住证在哪里办", "Q1"), ("社保卡掉了", "Q2"),
                                                     ("今天星期几", "-")])
    q = _write(tmp_path / "q.tsv", "query\tgold", [("居住证怎么申请", "Q1"), ("补办社保卡", "Q2"),
                                                   ("开公司要什么材料", "Q3"), ("火星离地球多远", "-")])
    assert main(["--kb", kb, "--queries", q, "--similar", sim, "--json", "--no-finetune"]) == 0
    out = capsys.readouterr().out.strip()
    data = json.loads(out)  # exactly one JSON object on stdout
    assert KEYS <= set(data)
    assert data["entries"] == 3 and data["texts"] == 5 and data["negatives"] == 1
    assert 0.0 <= data["recall_at_1"] <= 1.0 and data["p95_ms"] >= data["p50_ms"] > 0
    assert data["recall_at_5"] == 1.0  # 3 entries: the gold is always in the top 5


def test_split_dev_and_scale(tmp_path, capsys, st_encoder):
    rows = [(f"q{i}", "Q1") for i in range(1, 6)]
    sim, qs = split_dev(rows)
    assert [r[0] for r in sim] == ["q1", "q3", "q5"] and [r[0] for r in qs] == ["q2", "q4"]
    kb1, q1 = synthetic_kb(400)
    kb2, _ = synthetic_kb(400)
    assert kb1 == kb2 and len({t for _, t in kb1}) == 400 and len(q1) == 300
    assert main(["--scale", "200", "--json", "--no-finetune"]) == 0
    data = json.loads(capsys.readouterr().out.strip())
    assert KEYS <= set(data) and data["entries"] == 200


def test_fit_writes_a_loadable_config_fragment(tmp_path, capsys, st_encoder):
    from knowledge_base.retriever.calibration import Calibration
    from knowledge_base.retriever.config import load_config

    kb_rows = [("Q1", "如何办理居住证"), ("Q2", "社保卡丢了怎么补办"), ("Q3", "营业执照需要什么材料"),
               ("Q4", "护照过期了怎么换")]
    sim_rows = [("居住证在哪里办", "Q1"), ("外地人办居住证", "Q1"), ("居住证怎么申请", "Q1"),
                ("社保卡掉了", "Q2"), ("补办社保卡", "Q2"), ("社保卡遗失", "Q2"),
                ("开公司要什么材料", "Q3"), ("办执照的材料", "Q3"), ("营业执照怎么办", "Q3"),
                ("护照到期", "Q4"), ("换护照", "Q4"), ("护照怎么换发", "Q4"),
                ("账号被锁了", "-"), ("密码锁定怎么办", "-"), ("账户锁住了", "-")]
    kb = _write(tmp_path / "kb.tsv", "id\tquestion", kb_rows)
    dev = _write(tmp_path / "dev.tsv", "query\tgold",
                 [r for pair in zip(sim_rows, sim_rows) for r in pair])  # odd rows = similar
    out = tmp_path / "fit.toml"
    assert main(["--kb", kb, "--split-dev", dev, "--fit", str(out), "--folds", "3", "--json",
                 "--no-finetune"]) == 0
    info = json.loads(capsys.readouterr().out.strip())
    assert set(info["sections"]) == {"rescorer_base", "calibration_base", "calibration_base_neg"}
    base = (tmp_path / "base.toml")
    base.write_text(out.read_text("utf-8"), "utf-8")
    cfg = load_config(base)
    assert cfg.rescorer_base is not None
    assert isinstance(cfg.calibration_base_neg, Calibration)
