"""``python -m ridgeline_predictor``: run the predictor service."""

from __future__ import annotations

from ridgeline_predictor.config import PredictorSettings
from ridgeline_predictor.service import PredictorService
from ridgeline_shared.runtime.main import run_service


def main() -> None:
    run_service(PredictorService, PredictorSettings)


if __name__ == "__main__":
    main()
