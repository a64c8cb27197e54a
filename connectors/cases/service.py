"""``CaseSystem`` seam and its SQL implementation.

The action server asks "what is the status of this 办件编码?"; today a SQL table seeded with sample
cases answers, later a city's case system over HTTP implements the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import yaml

from connectors.cases.models import Case
from connectors.db import Database

SAMPLE_CASES = Path(__file__).with_name("sample_cases.yaml")

STATUS_LABELS = {
    "submitted": "已提交，待受理",
    "accepted": "已受理，正在审核",
    "supplement": "需补齐补正材料",
    "approved": "已办结（准予许可）",
    "rejected": "已办结（不予许可）",
    "delivered": "证照已送达/可领取",
}


@dataclass(frozen=True)
class CaseStatus:
    code: str
    matter: str
    department: str
    channel: str
    status: str
    status_label: str
    submitted_at: datetime
    timeline: list[dict[str, Any]] = field(default_factory=list)
    missing_materials: list[str] = field(default_factory=list)
    note: str = ""


class CaseSystem(Protocol):
    def lookup(self, code: str) -> CaseStatus | None: ...


class SqlCaseSystem:
    """Reads the ``cases`` table of the gateway database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def lookup(self, code: str) -> CaseStatus | None:
        with self.db.session() as session:
            row = session.get(Case, code)
            if row is None:
                return None
            return CaseStatus(
                code=row.code,
                matter=row.matter,
                department=row.department,
                channel=row.channel,
                status=row.status,
                status_label=STATUS_LABELS.get(row.status, row.status),
                submitted_at=row.submitted_at,
                timeline=list(row.timeline or []),
                missing_materials=list(row.missing_materials or []),
                note=row.note or "",
            )

    def seed(self, path: Path = SAMPLE_CASES) -> int:
        """Insert the sample cases that are not there yet; returns how many were added."""
        records = yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]
        added = 0
        with self.db.session() as session:
            for rec in records:
                if session.get(Case, rec["code"]) is not None:
                    continue
                if rec["status"] not in STATUS_LABELS:
                    raise ValueError(f"{path}: case {rec['code']}: unknown status {rec['status']!r}")
                session.add(
                    Case(
                        code=rec["code"],
                        matter=rec["matter"],
                        department=rec["department"],
                        channel=rec["channel"],
                        status=rec["status"],
                        submitted_at=datetime.fromisoformat(rec["submitted_at"]),
                        timeline=rec.get("timeline", []),
                        missing_materials=rec.get("missing_materials", []),
                        note=rec.get("note", ""),
                    )
                )
                added += 1
        return added
