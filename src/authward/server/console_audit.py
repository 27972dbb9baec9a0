"""The console's audit log (decision 051).

GET /console/audit          filter by type (exact, or a prefix ending in "."), actor,
                            subject and time (since inclusive, until exclusive, UTC); paged
GET /console/audit/export   the same filters, ?format=csv|json, as a download
"""

from __future__ import annotations

__all__ = ["audit_routes"]

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from authward.server.console import Gate, Paging, when
from authward.server.management_ports import AuditReader
from authward.store.audit import AuditEvent

#: Events one export holds at most (newest first); narrower filters reach older ones.
EXPORT_LIMIT = 10_000
_FIELDS = ("kind", "at", "actor", "subject", "client_id", "ip", "detail")
_MAX_FILTER = 200
_FILTERS = ("kind", "actor", "subject", "since", "until")


def _time(value: str) -> datetime | str | None:
    """A ``datetime-local`` or ISO 8601 value as UTC; the text back when it is not one."""
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _row(event: AuditEvent) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "at": event.at.astimezone(UTC).isoformat(),
        "actor": event.actor,
        "subject": event.subject,
        "client_id": event.client_id,
        "ip": event.ip,
        "detail": dict(event.detail),
    }


class AuditPages:
    def __init__(self, gate: Gate, audit: AuditReader) -> None:
        self.gate = gate
        self.audit = audit

    def _filters(self, request: Request) -> tuple[dict[str, Any], str]:
        """The query's filters as :meth:`AuditReader.page` takes them, and what is wrong
        with them (empty when nothing)."""
        params = request.query_params
        got = {k: params.get(k, "").strip()[:_MAX_FILTER] for k in ("kind", "actor", "subject")}
        filters: dict[str, Any] = {k: v or None for k, v in got.items()}
        for name in ("since", "until"):
            value = _time(params.get(name, "").strip()[:_MAX_FILTER])
            if isinstance(value, str):
                return filters, f"{name}: {value!r} is not a date and time (YYYY-MM-DDTHH:MM)."
            filters[name] = value
        return filters, ""

    async def page(self, request: Request) -> Response:
        viewer = await self.gate.viewer(request, admin=True)
        if isinstance(viewer, Response):
            return viewer
        filters, alert = self._filters(request)
        paging = Paging.of(request)
        before = int(paging.after) if paging.after and paging.after.isdigit() else None
        found = [] if alert else await self.audit.page(before=before, limit=paging.fetch, **filters)
        return self.gate.page(
            request,
            "console_audit.html",
            title="Audit log",
            viewer=viewer,
            section="audit",
            status=400 if alert else 200,
            alert=alert,
            values={k: request.query_params.get(k, "") for k in _FILTERS},
            export_query=urlencode([(k, request.query_params.get(k, "")) for k in _FILTERS]),
            page=paging.keyed(
                [
                    {
                        **_row(r.event),
                        "id": r.id,
                        "at": when(r.event.at),
                        "detail": json.dumps(dict(r.event.detail), ensure_ascii=False, default=str),
                    }
                    for r in found
                ],
                lambda row: str(row["id"]),
            ),
        )

    async def export(self, request: Request) -> Response:
        viewer = await self.gate.viewer(request, admin=True)
        if isinstance(viewer, Response):
            return viewer
        filters, alert = self._filters(request)
        kind = request.query_params.get("format", "csv")
        if alert or kind not in ("csv", "json"):
            message = alert or "format must be csv or json."
            return self.gate.look.message("Invalid export", message, nav=viewer.nav("audit"))
        found = await self.audit.page(before=None, limit=EXPORT_LIMIT, **filters)
        rows = [_row(r.event) for r in found]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        headers = {
            "Content-Disposition": f'attachment; filename="audit-{stamp}.{kind}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
        if kind == "json":
            body = json.dumps(rows, ensure_ascii=False, default=str, indent=1)
            return Response(body, media_type="application/json", headers=headers)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    **{k: _cell(v) for k, v in row.items()},
                    "detail": json.dumps(row["detail"], ensure_ascii=False, default=str),
                }
            )
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def _cell(value: Any) -> Any:
    """A spreadsheet does not run a cell that starts as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def audit_routes(gate: Gate, audit: AuditReader) -> list[BaseRoute]:
    pages = AuditPages(gate, audit)
    return [
        Route("/console/audit", pages.page, methods=["GET"]),
        Route("/console/audit/export", pages.export, methods=["GET"]),
    ]
