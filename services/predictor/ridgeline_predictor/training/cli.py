"""``ridgeline-train`` / ``python -m ridgeline_predictor.training``: regenerate the models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ridgeline_predictor.training.train import TrainConfig, train
from ridgeline_shared.config import DEFAULT_HORIZONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ridgeline-train", description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=Path("data/market"), help="directory of <SYMBOL>_<interval>.csv"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("services/predictor/models"), help="models directory"
    )
    parser.add_argument("--interval", default="5m")
    parser.add_argument("--horizons", default=",".join(DEFAULT_HORIZONS))
    parser.add_argument("--symbols", default="", help="comma-separated subset (default: every file)")
    parser.add_argument("--session-minutes", type=int, default=1440)
    parser.add_argument("--barrier-k", type=int, default=1, help="bars ahead for peak/valley labels")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    config = TrainConfig(
        data_dir=args.data,
        out_dir=args.out,
        interval=args.interval,
        horizons=tuple(h.strip() for h in args.horizons.split(",") if h.strip()),
        symbols=tuple(s.strip() for s in args.symbols.split(",") if s.strip()),
        session_minutes=args.session_minutes,
        barrier_k_bars=args.barrier_k,
        folds=args.folds,
        seed=args.seed,
    )
    if not config.data_dir.is_dir():
        print(f"ridgeline-train: data directory {config.data_dir} does not exist", file=sys.stderr)
        return 2
    manifests = train(config)
    print(f"wrote {len(manifests)} models to {config.out_dir}")
    return 0
