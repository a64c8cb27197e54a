"""Alembic migrations of the gateway database (``govbot db upgrade``; run automatically at start-up)."""

from __future__ import annotations

import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

MIGRATIONS_DIR = Path(__file__).resolve().parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; called by every process at start-up.

    A database made before migrations existed (tables but no ``alembic_version``) is adopted: missing
    tables and columns are added, then it is stamped as current. Two processes starting together may
    race on the first migration; the loser finds the work done when it retries.
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    for attempt in range(3):
        try:
            with engine.begin() as connection:
                cfg.attributes["connection"] = connection
                tables = set(inspect(connection).get_table_names())
                if "alembic_version" not in tables and "conversations" in tables:
                    _adopt_legacy(connection)
                    command.stamp(cfg, revision)
                else:
                    command.upgrade(cfg, revision)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == 2:
                raise
            time.sleep(0.5 + attempt)


def _adopt_legacy(connection: Connection) -> None:
    from connectors import models_registry  # noqa: F401
    from connectors.db import Base
    from connectors.handoff.models import upgrade_schema

    Base.metadata.create_all(connection)
    upgrade_schema(connection)


def autogenerate(url: str, message: str) -> None:
    """Developer helper: write a new revision from the difference between models and ``url``'s schema."""
    command.revision(alembic_config(url), message=message, autogenerate=True)
