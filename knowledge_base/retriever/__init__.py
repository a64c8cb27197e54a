"""FAQ retrieval: ``Retriever`` protocol, the hybrid BM25 + dense implementation, hot-swap holder.

Typical use::

    from knowledge_base.retriever import Document, HybridRetriever, RetrieverHolder
    holder = RetrieverHolder(HybridRetriever.build([Document("Q1", ["如何办理居住证", "居住证怎么办"])]))
    result = holder.search("怎么申请居住证")   # RetrievalResult(decision, confidence, hits)
"""
from __future__ import annotations

from .calibration import Calibration
from .config import RetrieverConfig, load_config
from .holder import RetrieverHolder
from .hybrid import HybridRetriever, merge_documents
from .types import Decision, Document, Hit, RetrievalResult, Retriever

RETRIEVERS = {"hybrid": HybridRetriever}

__all__ = ["Calibration", "Decision", "Document", "Hit", "HybridRetriever", "RETRIEVERS",
           "RetrievalResult", "Retriever", "RetrieverConfig", "RetrieverHolder", "load_config",
           "merge_documents"]
