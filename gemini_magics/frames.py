"""Pandas-like tables as bounded Markdown: a header with the size, the schema, and the first rows.

A prompt (``{df}``) or a notebook context (``--context vars``) that holds a DataFrame must tell the model
what the table *is* — its columns and their types — and show a few rows, never the whole thing: a
10-million-row frame costs the same few hundred characters as a ten-row one. Only the head is read
(``iloc[:rows, :cols]``), so nothing scales with the frame's size.

Tables are recognised by their shape, not their class: a two-dimensional ``shape``, ``columns``,
``dtypes`` and a ``head`` method. pandas is what the tests use; a frame without ``iloc``/``itertuples``
but with ``rows()`` (polars' API) is read through ``head(n).rows()``, without a row index. Nothing here
imports pandas: a frame can only reach us from a namespace that already imported it.
"""

from __future__ import annotations

from typing import Any

ROWS = 20  # rows shown by default
COLUMNS = 30  # columns shown (the schema lists up to SCHEMA_COLUMNS)
SCHEMA_COLUMNS = 100
CELL_CHARS = 40  # characters of one shown value


def is_frame(value: Any) -> bool:
    """A two-dimensional table with named, typed columns (pandas or polars DataFrame)."""
    try:
        shape = getattr(value, "shape", None)
        columns = getattr(value, "columns", None)
        dtypes = getattr(value, "dtypes", None)
        head = getattr(value, "head", None)
    except Exception:  # a property that raises is no table we can read
        return False
    return (
        isinstance(shape, tuple)
        and len(shape) == 2
        and columns is not None
        and not callable(columns)
        and dtypes is not None
        and callable(head)
    )


def label(value: Any) -> str:
    """``pandas DataFrame, 10,000,000 rows × 3 columns``."""
    kind = type(value)
    package = (kind.__module__ or "").split(".")[0]
    rows, cols = value.shape
    return f"{package} {kind.__name__}, {rows:,} rows × {cols:,} columns".strip()


def schema(value: Any, most: int = SCHEMA_COLUMNS) -> str:
    """``a int64, b float64, c object`` (the first ``most`` columns, then how many more)."""
    try:
        names = list(value.columns[:most])
        types = list(value.dtypes[:most]) if hasattr(value.dtypes, "__getitem__") else []
    except Exception:
        return ""
    if len(types) != len(names):
        types = [""] * len(names)
    shown = ", ".join(f"{cell(name)} {cell(kind)}".strip() for name, kind in zip(names, types, strict=True))
    extra = value.shape[1] - len(names)
    return shown + (f", … {extra:,} more" if extra > 0 else "")


def markdown(value: Any, rows: int = ROWS, columns: int = COLUMNS) -> str:
    """The frame's label, schema and first ``rows`` rows (``columns`` columns) as a Markdown table."""
    lines = [label(value)]
    described = schema(value)
    if described:
        lines.append(f"columns: {described}")
    table = _table(value, rows, columns)
    if table:
        total_rows, total_cols = value.shape
        shown_rows = min(rows, total_rows)
        cut = []
        if shown_rows < total_rows:
            cut.append(f"first {shown_rows:,} of {total_rows:,} rows")
        if columns < total_cols:
            cut.append(f"first {columns:,} of {total_cols:,} columns")
        lines += ["", table]
        if cut:
            lines.append(f"({', '.join(cut)})")
    return "\n".join(lines)


def cell(value: Any, width: int = CELL_CHARS) -> str:
    """One value as table text: one line, ``|`` escaped, at most ``width`` characters."""
    try:
        text = " ".join(str(value).split())
        if isinstance(value, float) and len(text) > 12:
            text = format(value, ".8g")  # 0.1544149078660536 → 0.15441491: tokens for the model
    except Exception:
        text = f"<{type(value).__name__}>"
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.replace("|", "\\|")


def _table(value: Any, rows: int, columns: int) -> str:
    """The head as a Markdown table; '' when the frame cannot be read that way (or has no rows)."""
    try:
        names = [cell(name) for name in list(value.columns[:columns])]
        iloc = getattr(value, "iloc", None)
        head = iloc[:rows, :columns] if iloc is not None else value.head(rows)
        if hasattr(head, "itertuples"):  # pandas: the index first
            records = [list(r) for r in head.itertuples(index=True, name=None)]
            names = ["", *names]
        elif callable(getattr(head, "rows", None)):  # polars
            records = [list(r)[:columns] for r in head.rows()]
        else:
            return ""
    except Exception:
        return ""
    if not records:
        return ""
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(v) for v in record) + " |" for record in records]
    return "\n".join(lines)
