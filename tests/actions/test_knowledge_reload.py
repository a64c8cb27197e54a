"""Hot reload of the knowledge base: atomic swap, no dropped searches, bad edits rejected."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from bot.actions.knowledge import KnowledgeService
from knowledge_base.loader import KBValidationError

ROOT = Path(__file__).resolve().parents[2]

NEW_ENTRY = """
  - id: test-hot-reload-entry
    topic: 其他
    question: 政务服务中心有没有免费的母婴室
    similar:
      - 大厅里有哺乳室吗
      - 带孩子去办事有地方喂奶吗
      - 中心有母婴室吗
    answer: 示例：中心一层设有母婴室，免费使用。
"""


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    target = tmp_path / "faq"
    shutil.copytree(ROOT / "knowledge_base" / "data" / "faq", target)
    return target


def test_edit_is_picked_up_and_searches_never_fail(kb_dir: Path):
    service = KnowledgeService(kb_dir)
    service.reload()
    before = service.status()["version"]
    assert service.search("大厅里有哺乳室吗").result.hits[0].entry_id != "test-hot-reload-entry"

    errors: list[BaseException] = []
    done = threading.Event()

    def searcher() -> None:
        while not done.is_set():
            try:
                answer = service.search("社保卡丢了怎么补办")
                assert answer.entries, "a search returned nothing during the swap"
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    with (kb_dir / "qita.yaml").open("a", encoding="utf-8") as f:
        f.write(NEW_ENTRY)
    assert service.reload_if_changed() is True
    done.set()
    for t in threads:
        t.join()
    assert errors == []
    assert service.status()["version"] != before
    assert service.search("大厅里有哺乳室吗").result.hits[0].entry_id == "test-hot-reload-entry"
    assert service.reload_if_changed() is False  # nothing changed since


def test_invalid_edit_is_rejected_and_the_old_index_keeps_serving(kb_dir: Path):
    service = KnowledgeService(kb_dir)
    service.reload()
    version = service.status()["version"]
    (kb_dir / "broken.yaml").write_text("entries:\n  - id: broken\n    topic: 火星\n    question: ''\n", encoding="utf-8")
    with pytest.raises(KBValidationError) as info:
        service.reload()
    assert "broken.yaml" in str(info.value)
    assert service.status()["version"] == version
    assert service.status()["last_error"]
    assert service.search("社保卡丢了怎么补办").entries
