"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from connectors import models_registry  # noqa: F401
from connectors.db import Base, Database

PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def assert_matches_models(db: Database) -> None:
    db.create_all()
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], diff
    db.create_all()  # a second start-up changes nothing


def test_sqlite_schema_matches_models(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        assert_matches_models(db)
    finally:
        db.dispose()


def test_postgresql_schema_matches_models():
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    db = Database(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        assert_matches_models(db)
    finally:
        db.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
