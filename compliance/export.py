"""Streaming CSV export of an officer's filtered list, itself a security event.

:func:`csv_stream_response` answers ``text/csv`` row by row (``StreamingHttpResponse``: memory
stays flat for any row count). When the last row is out it records ``export.csv`` with the row
count and the SHA-256 of exactly the bytes sent (an interrupted download records outcome
``failure`` with the rows sent so far). The event keeps the request's id, source IP and user
agent, although it is written after the view returned.

Cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are prefixed with
``'`` so a spreadsheet never evaluates them (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from compliance import audit
from creditplatform import context

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    def write(self, value: str) -> str:
        return value


def safe_cell(value: Any) -> str:
    """A CSV cell: ``None`` -> empty, datetimes ISO 8601, formulas neutralised."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def csv_stream_response(
    *, actor: Any, queryset: QuerySet, columns: Sequence[tuple[str, Callable[[Any], Any]]],
    filename: str, object_type: str, filters: str = "",
) -> StreamingHttpResponse:
    """Stream ``queryset`` as CSV with a header of the column names; audited as ``export.csv``.

    ``columns``: ``[(header, getter(row) -> value), ...]``. ``filters`` (the changelist's query
    string) goes into the event's details.
    """
    ctx = context.current()
    writer = csv.writer(_Echo())
    started = timezone.now()

    def rows() -> Iterator[str]:
        digest, count, done = hashlib.sha256(), 0, False
        try:
            line = writer.writerow([h for h, _ in columns])
            digest.update(line.encode())
            yield line
            for obj in queryset.iterator(chunk_size=1000):
                line = writer.writerow([safe_cell(get(obj)) for _, get in columns])
                digest.update(line.encode())
                count += 1
                yield line
            done = True
        finally:
            token = context.bind(ctx)
            try:
                audit.record("export.csv", actor=actor, outcome="success" if done else "failure",
                             object_type=object_type, object_id=filename[:64],
                             details={"rows": count, "sha256": digest.hexdigest(),
                                      "filters": filters[:1000], "file": filename,
                                      "started_at": started.isoformat()})
            finally:
                context.reset(token)

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def field_columns(model: Any, names: Iterable[str]) -> list[tuple[str, Callable[[Any], Any]]]:
    """Columns reading model attributes (``attname`` for foreign keys: the raw id)."""
    cols = []
    for name in names:
        field = model._meta.get_field(name)
        attr = getattr(field, "attname", name)
        cols.append((name, lambda obj, a=attr: getattr(obj, a)))
    return cols
