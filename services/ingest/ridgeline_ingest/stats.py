"""Per-symbol counters for /status, the end-of-data report and the snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ridgeline_ingest.rows import Reason


@dataclass(slots=True)
class SymbolStats:
    rows: int = 0  # source rows seen (accepted or not)
    bars: int = 0  # bars published
    rejected: dict[str, int] = field(default_factory=dict)
    gaps: int = 0  # gap events (a bar with gap_bars > 0)
    gap_bars: int = 0  # missing bars in all gaps
    outliers: int = 0
    partial_dropped: int = 0  # unfinished bars dropped at the end of the source
    stale_bars: int = 0  # live: bars that reached us more than stale_after after their close
    first_event_time: datetime | None = None
    last_event_time: datetime | None = None
    last_close: float | None = None
    last_received_at: datetime | None = None

    def reject(self, reason: Reason) -> None:
        self.rejected[reason.value] = self.rejected.get(reason.value, 0) + 1

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "bars": self.bars,
            "rejected": dict(sorted(self.rejected.items())),
            "rejected_total": self.rejected_total,
            "gaps": self.gaps,
            "gap_bars": self.gap_bars,
            "outliers": self.outliers,
            "partial_dropped": self.partial_dropped,
            "stale_bars": self.stale_bars,
            "first_event_time": _iso(self.first_event_time),
            "last_event_time": _iso(self.last_event_time),
            "last_close": self.last_close,
            "last_received_at": _iso(self.last_received_at),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SymbolStats:
        return cls(
            rows=int(data["rows"]),
            bars=int(data["bars"]),
            rejected={str(k): int(v) for k, v in data["rejected"].items()},
            gaps=int(data["gaps"]),
            gap_bars=int(data["gap_bars"]),
            outliers=int(data["outliers"]),
            partial_dropped=int(data["partial_dropped"]),
            stale_bars=int(data["stale_bars"]),
            first_event_time=_dt(data["first_event_time"]),
            last_event_time=_dt(data["last_event_time"]),
            last_close=data["last_close"],
            last_received_at=_dt(data["last_received_at"]),
        )


def totals(stats: dict[str, SymbolStats]) -> dict[str, int]:
    """Run totals as flat integer counters (the end-of-data watermark's ``stats``)."""
    out = {
        "symbols": len(stats),
        "rows": 0,
        "bars": 0,
        "rejected": 0,
        "gaps": 0,
        "gap_bars": 0,
        "outliers": 0,
        "partial_dropped": 0,
        "stale_bars": 0,
    }
    for s in stats.values():
        out["rows"] += s.rows
        out["bars"] += s.bars
        out["rejected"] += s.rejected_total
        out["gaps"] += s.gaps
        out["gap_bars"] += s.gap_bars
        out["outliers"] += s.outliers
        out["partial_dropped"] += s.partial_dropped
        out["stale_bars"] += s.stale_bars
        for reason, n in s.rejected.items():
            key = f"rejected_{reason}"
            out[key] = out.get(key, 0) + n
    return out


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
