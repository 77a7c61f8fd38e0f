"""``python -m ridgeline_risk``: run the risk service."""

from __future__ import annotations

from ridgeline_risk.config import RiskSettings
from ridgeline_risk.service import RiskService
from ridgeline_shared.runtime.main import run_service


def main() -> None:
    run_service(RiskService, RiskSettings)


if __name__ == "__main__":
    main()
