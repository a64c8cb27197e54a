"""One retention pass from the command line: ``python -m connectors.retention [--mode purge] [--days N]``.

Useful from cron when the gateway's own job is disabled (``[retention] enabled = false``).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from connectors.config import load_settings
from connectors.db import Database
from connectors.retention.job import run_retention
from connectors.retention.settings import load_retention_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Anonymise or purge transcripts older than [retention] days")
    parser.add_argument("--mode", choices=["anonymise", "purge"], default=None)
    parser.add_argument("--days", type=int, default=None)
    args = parser.parse_args(argv)
    settings = load_retention_settings()
    settings = replace(settings, mode=args.mode or settings.mode,
                       days=args.days if args.days is not None else settings.days)
    db = Database(load_settings().database_url)
    db.create_all()
    report = run_retention(db, settings)
    print(f"retention {report.mode} before {report.cutoff.isoformat()}: "
          f"{report.messages_anonymised} anonymised, {report.messages_deleted} messages and "
          f"{report.conversations_deleted} conversations deleted")
    db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
