"""Hot swap under concurrent searches: every request completes on either the old or new index."""
from __future__ import annotations

import threading
from dataclasses import replace

from knowledge_base.retriever import (Document, HybridRetriever, RetrievalResult, RetrieverHolder,
                                      load_config)

OLD = [Document("old_permit", ["如何办理居住证", "居住证怎么申请"]),
       Document("old_passport", ["护照过期了怎么换", "怎么办理护照"])]
NEW = [Document("new_permit", ["居住证办理流程", "办居住证要什么材料"]),
       Document("new_passport", ["护照换发", "第一次办护照"]),
       Document("new_card", ["社保卡补办", "社保卡丢了"])]


def test_swap_under_concurrent_searches(st_encoder):
    cfg = replace(load_config(), finetune="off")
    old = HybridRetriever.build(OLD, encoder=st_encoder, config=cfg)
    new = HybridRetriever.build(NEW, encoder=st_encoder, config=cfg)
    holder = RetrieverHolder(old)
    queries = ["居住证怎么办", "护照到期了", "社保卡丢了怎么办"]
    results: list[RetrievalResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(i: int) -> None:
        n = 0
        while not stop.is_set() or n < 10:
            try:
                res = holder.search(queries[(i + n) % len(queries)])
            except BaseException as exc:  # noqa: BLE001 - any failure is a dropped request
                with lock:
                    errors.append(exc)
                return
            with lock:
                results.append(res)
            n += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for i in range(20):
        holder.swap(new if i % 2 == 0 else old)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert len(results) >= 40
    old_ids, new_ids = {d.id for d in OLD}, {d.id for d in NEW}
    for res in results:
        ids = {h.entry_id for h in res.hits}
        assert ids and (ids <= old_ids or ids <= new_ids)  # never a mix of two indexes
    assert holder.generation == 21
    assert holder.current is old
