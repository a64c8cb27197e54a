"""Hybrid retriever behaviour on a small hand-made Chinese FAQ (real model, fitted config)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from knowledge_base.retriever import Document, HybridRetriever, RetrievalResult, load_config
from knowledge_base.retriever.bm25 import BM25Index
from knowledge_base.retriever.text import tokens

DOCS = [
    Document("residence_permit", ["如何办理居住证", "居住证怎么申请", "办居住证需要什么材料",
                                  "外地人在北京怎么办居住证"]),
    Document("social_card_lost", ["社保卡丢了怎么补办", "社保卡遗失了如何补卡", "社保卡掉了怎么办",
                                  "补办社保卡要多久"]),
    Document("medical_card_lost", ["医保卡丢了怎么补办", "医保卡遗失怎么处理", "医保卡掉了去哪补",
                                   "补办医保卡需要什么"]),
    Document("business_license", ["营业执照需要什么材料", "注册公司办营业执照流程",
                                  "个体户营业执照怎么申请", "开公司要准备哪些材料"]),
    Document("passport", ["护照过期了怎么换", "怎么办理护照", "护照到期换发流程", "第一次办护照去哪里"]),
    Document("housing_fund", ["公积金怎么提取", "住房公积金提取条件", "租房可以提取公积金吗",
                              "公积金提取需要多久到账"]),
    Document("hours", ["政务服务中心几点上班", "政务服务中心周末开门吗", "办事大厅的工作时间",
                       "中午可以办业务吗"]),
    Document("newborn", ["新生儿怎么落户", "给孩子上户口需要什么材料", "宝宝出生后怎么办户口",
                         "新生儿落户去哪里办"]),
]


# Fine-tuning is exercised by the benchmark (minutes); here the base encoder and its own fitted
# calibration (``[calibration_base]``) keep the suite fast.
CONFIG = replace(load_config(), finetune="off")


@pytest.fixture(scope="module")
def retriever(st_encoder):
    r = HybridRetriever.build(DOCS, encoder=st_encoder, config=CONFIG)
    assert not r.finetuned
    return r


def test_paraphrase_is_answered(retriever):
    res = retriever.search("我是外地的，想申请北京的居住证该怎么弄")
    assert isinstance(res, RetrievalResult)
    assert res.hits[0].entry_id == "residence_permit"
    assert res.decision == "answer", res
    assert 0.0 <= res.confidence <= 1.0
    assert res.hits[0].matched_text in DOCS[0].texts


def test_ambiguous_query_asks_to_clarify(retriever):
    res = retriever.search("卡丢了")
    assert res.decision == "clarify", res
    top3 = {h.entry_id for h in res.hits[:3]}
    assert {"social_card_lost", "medical_card_lost"} <= top3


def test_unrelated_query_is_declined(retriever):
    res = retriever.search("明天会下雨吗，我要不要带伞")
    assert res.decision == "decline", res


def test_ranking_and_scores_are_sorted(retriever):
    res = retriever.search("公积金提取", k=5)
    assert res.hits[0].entry_id == "housing_fund"
    scores = [h.score for h in res.hits]
    assert scores == sorted(scores, reverse=True)
    assert len({h.entry_id for h in res.hits}) == len(res.hits)


def test_empty_query_and_empty_kb(retriever, st_encoder):
    assert retriever.search("   ").decision == "decline"
    empty = HybridRetriever.build([], encoder=st_encoder, config=CONFIG)
    assert empty.search("居住证").decision == "decline"


def test_duplicate_ids_are_merged(st_encoder):
    r = HybridRetriever.build([Document("a", ["居住证办理"]), Document("a", ["居住证怎么办", "居住证办理"]),
                               Document("b", ["护照办理"])], encoder=st_encoder, config=CONFIG)
    assert r.size == (2, 3)
    assert r.entry_texts("a") == ["居住证办理", "居住证怎么办"]


def test_bm25_normalised_scores():
    docs = [tokens(t) for t in ["社保卡补办", "医保卡补办", "护照换发"]]
    bm = BM25Index(docs)
    s = bm.scores(tokens("社保卡补办"))
    assert s.argmax() == 0 and 0 < s.max() <= 1.0
    assert bm.scores(tokens("完全无关的话")).max() == 0
    assert "社保卡" in tokens("社保卡补办") or "#社保" in tokens("社保卡补办")
