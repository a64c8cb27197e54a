"""``/api/v1/hours/...`` and ``/api/v1/centers``: the hours engine over HTTP.

The same pure functions answer the chat (bot/actions/hours.py) and these endpoints, so a web page
and the bot never disagree.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Query

from connectors.errors import ApiError
from knowledge_base.hours import (
    CATEGORIES,
    CalendarNotPublished,
    acceptance_deadline,
    check_open,
    default_calendar,
    load_centers,
    processing_deadline,
    to_beijing,
)


@lru_cache(maxsize=1)
def hours_data() -> tuple[dict[str, Any], Any]:
    return load_centers(), default_calendar()


def _moment(value: str, name: str) -> dt.datetime:
    try:
        return to_beijing(dt.datetime.fromisoformat(value.strip()))
    except ValueError:
        raise ApiError(400, "invalid_datetime", f"参数 {name} 不是有效的 ISO 8601 时间：{value[:40]}",
                       f"parameter {name} is not an ISO 8601 datetime") from None


def hours_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["hours"])

    @router.get("/centers")
    def centers() -> dict[str, Any]:
        registry, _ = hours_data()
        return {
            "categories": list(CATEGORIES),
            "centers": [
                {
                    "id": c.id,
                    "name": c.name,
                    "address": c.address,
                    "workday_hours": c.workday_hours[0].label(),
                    "lunch_continuous": c.lunch.continuous,
                    "flexible_minutes": {"before": c.flexible.before_minutes, "after": c.flexible.after_minutes},
                    "saturday_hours": c.saturday.hours.label() if c.saturday.hours else None,
                    "saturday_categories": [k for k in CATEGORIES if k in c.saturday.categories],
                }
                for c in registry.values()
            ],
        }

    @router.get("/hours/check")
    def check(
        center: str = Query(..., max_length=64),
        category: str = Query("综合", max_length=16),
        at: str | None = Query(None, max_length=64),
        flexible: bool = Query(False, description="the matter allows 早晚弹性办 appointments"),
    ) -> dict[str, Any]:
        registry, calendar = hours_data()
        if center not in registry:
            raise ApiError(404, "unknown_center", f"未知的服务中心：{center}", f"unknown center: {center}")
        if category not in CATEGORIES:
            raise ApiError(400, "unknown_category", f"未知的事项类别：{category}（可选：{'、'.join(CATEGORIES)}）",
                           f"unknown category: {category}")
        moment = _moment(at, "at") if at else to_beijing(dt.datetime.now(dt.timezone.utc))
        return check_open(registry[center], category, moment, calendar, flexible_allowed=flexible).to_dict()

    @router.get("/hours/deadline")
    def deadline(
        submitted: str = Query(..., max_length=64),
        working_days: int | None = Query(None, ge=0, le=365),
        channel: str = Query("online", pattern="^(online|offline)$"),
    ) -> dict[str, Any]:
        _, calendar = hours_data()
        moment = _moment(submitted, "submitted")
        try:
            if working_days is None:
                return acceptance_deadline(moment, calendar, channel=channel).to_dict()  # type: ignore[arg-type]
            return processing_deadline(moment, working_days, calendar).to_dict()
        except CalendarNotPublished as exc:
            raise ApiError(422, "calendar_not_published", str(exc), "holiday schedule not yet published") from exc

    return router
