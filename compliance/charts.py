"""Server-rendered SVG bar charts for the officers' console.

No script and no inline CSS (the admin's Content-Security-Policy allows neither without a
nonce): only SVG presentation attributes. Labels are escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def bar_chart_svg(series: Sequence[tuple[str, int]], *, title: str, width: int = 640,
                  height: int = 220, color: str = "#417690") -> SafeString:
    """A vertical bar chart of ``[(label, value), ...]`` (values >= 0) as inline SVG.

    Each bar carries a ``<title>`` (hover text "label: value"); the y axis is labelled with the
    maximum. Labels are thinned to at most ~12 on the x axis.
    """
    pad_l, pad_r, pad_t, pad_b = 44, 10, 26, 42
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    n = max(len(series), 1)
    top = max([v for _, v in series] + [1])
    slot = w / n
    bar = max(slot * 0.8, 1.0)
    every = max(1, -(-n // 12))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<text x="{pad_l}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{pad_l}" y1="{pad_t + h}" x2="{pad_l + w}" y2="{pad_t + h}" '
             'stroke="#666"/>',
             f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + h}" stroke="#666"/>',
             f'<text x="{pad_l - 4}" y="{pad_t + 4}" font-size="10" text-anchor="end">{top}</text>',
             f'<text x="{pad_l - 4}" y="{pad_t + h}" font-size="10" text-anchor="end">0</text>']
    for i, (label, value) in enumerate(series):
        bh = h * value / top
        x = pad_l + i * slot + (slot - bar) / 2
        y = pad_t + h - bh
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{bh:.1f}" '
                     f'fill="{color}" data-label="{escape(label)}" data-value="{int(value)}">'
                     f"<title>{escape(label)}: {int(value)}</title></rect>")
        if i % every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{pad_t + h + 14}" font-size="9" '
                         f'text-anchor="middle">{escape(label)}</text>')
    if not series:
        parts.append(f'<text x="{pad_l + 8}" y="{pad_t + h / 2}" font-size="12">no data</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label is escaped above
