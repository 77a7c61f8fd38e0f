"""Read-only HTTP routes of the executor: GET /orders, /positions, /fills, /account."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

if TYPE_CHECKING:
    from ridgeline_executor.service import ExecutorService


def build_router(service: ExecutorService) -> APIRouter:
    router = APIRouter(tags=["executor"])

    @router.get("/orders")
    def orders(
        status: Literal["open", "closed", "all"] = "all",
        symbol: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    ) -> dict[str, Any]:
        """Orders held in memory (working ones and the most recent closed ones), newest first."""
        return {"orders": service.orders_view(status, symbol, limit)}

    @router.get("/orders/{client_order_id}/events")
    def order_events(client_order_id: str) -> dict[str, Any]:
        """The order's event log as recorded in Redis."""
        events = service.order_events(client_order_id)
        if events is None:
            raise HTTPException(404, f"unknown order {client_order_id!r}")
        return {"client_order_id": client_order_id, "events": events}

    @router.get("/positions")
    def positions() -> dict[str, Any]:
        """Netting positions with average entry, last price, realised and unrealised PnL."""
        return {"positions": service.positions_view()}

    @router.get("/fills")
    def fills(limit: Annotated[int, Query(ge=1, le=10_000)] = 500) -> dict[str, Any]:
        """The most recent fills, newest first, from the fill log."""
        return {"fills": service.fills_view(limit)}

    @router.get("/account")
    def account() -> dict[str, Any]:
        """Cash, equity, realised and unrealised PnL, commissions; the venue's last account view."""
        return service.account_view()

    return router
