"""Small HTML pieces for Jupyter's ``_repr_html_``: an escaped table and a list.

Every string that reaches the page goes through ``html.escape``: layer names, metric
names and messages come from users' code and data.
"""

from __future__ import annotations

import html
from collections.abc import Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str | None = None,
          left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are text (left-aligned), the rest numbers.

    Example:
        >>> table(["layer", "norm"], [["fc<1>", "0.5"]])
        '<table><thead><tr><th style="text-align:left">layer</th><th>norm</th></tr></thead><tbody><tr><td style="text-align:left">fc&lt;1&gt;</td><td>0.5</td></tr></tbody></table>'
    """  # noqa: E501 - the doctest shows the one-line output as it is
    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(f'<{tag} style="text-align:left">{html.escape(str(v))}</{tag}>'
                       if i < left else f"<{tag}>{html.escape(str(v))}</{tag}>"
                       for i, v in enumerate(values))

    out = ["<table>"]
    if caption:
        out.append(f"<caption>{html.escape(caption)}</caption>")
    out.append(f"<thead><tr>{cells('th', header)}</tr></thead><tbody>")
    out += [f"<tr>{cells('td', row)}</tr>" for row in rows]
    out.append("</tbody></table>")
    return "".join(out)


def items(texts: Sequence[str], bold: Sequence[str] | None = None) -> str:
    """An HTML list, each item optionally led by a bold word.

    Example:
        >>> items(["a < b"], ["note"])
        '<ul><li><b>note</b>: a &lt; b</li></ul>'
    """
    lead = bold or [""] * len(texts)
    return "<ul>" + "".join(
        f"<li><b>{html.escape(b)}</b>: {html.escape(t)}</li>" if b
        else f"<li>{html.escape(t)}</li>" for b, t in zip(lead, texts)) + "</ul>"


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


__all__ = ["items", "paragraph", "table"]
