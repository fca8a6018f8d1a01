"""Statement PDFs rendered with fpdf2 (pure Python; core Helvetica font, no system packages)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fpdf import FPDF

from creditplatform.portal.money import format_minor


@dataclass(frozen=True)
class StatementDocument:
    """What a statement PDF shows. Amounts are integers of minor units of ``currency``;
    ``opening``/``closing`` are what the cardholder owes; ``entries`` are journal entries
    (kind, amount, merchant, description, occurred_at), newest first."""

    title: str
    holder: str
    account_id: str
    currency: str
    period_start: dt.date
    period_end: dt.date  # inclusive, for display
    opening: int
    closing: int
    totals: dict[str, int]
    entries: Iterable[Any]
    extra_lines: list[tuple[str, str]] = field(default_factory=list)


def _latin1(text: object) -> str:
    """The core PDF fonts cover Latin-1 only: anything else becomes "?"."""
    return str(text).encode("latin-1", "replace").decode("latin-1")


# Kinds that lower what the cardholder owes (shown with a minus sign).
_CREDITS = {"payment", "refund"}


def statement_pdf(doc: StatementDocument) -> bytes:
    """Render ``doc`` as a PDF (A4 portrait); returns the file's bytes (``%PDF-1.x`` ...)."""
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(doc.title))
    pdf.set_author("creditplatform")
    pdf.set_creation_date(dt.datetime.combine(doc.period_end, dt.time.min, tzinfo=dt.UTC))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(doc.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    rows = [("Cardholder", doc.holder), ("Account", doc.account_id),
            ("Period", f"{doc.period_start:%d %b %Y} - {doc.period_end:%d %b %Y}"),
            ("Opening balance", format_minor(doc.opening, doc.currency)),
            ("Closing balance", format_minor(doc.closing, doc.currency)),
            *doc.extra_lines]
    for label, value in rows:
        pdf.cell(45, 6, _latin1(label))
        pdf.cell(0, 6, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "Totals", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for kind, amount in doc.totals.items():
        if amount:
            pdf.cell(45, 6, _latin1(kind.capitalize()))
            pdf.cell(0, 6, _latin1(format_minor(amount, doc.currency)), new_x="LMARGIN",
                     new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "Transactions", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    with pdf.table(col_widths=(28, 22, 90, 40), text_align=("LEFT", "LEFT", "LEFT", "RIGHT"),
                   first_row_as_headings=True) as table:
        table.row(["Date", "Kind", "Merchant / description", f"Amount ({doc.currency})"])
        count = 0
        for entry in doc.entries:
            count += 1
            sign = -1 if entry.kind in _CREDITS else 1
            text = " - ".join(x for x in (entry.merchant, entry.description) if x) or "-"
            table.row([f"{entry.occurred_at:%Y-%m-%d}", _latin1(entry.kind),
                       _latin1(text[:80]),
                       format_minor(sign * entry.amount, doc.currency, with_code=False)])
        if not count:
            table.row(["", "", "No transactions in this period.", ""])
    return bytes(pdf.output())
