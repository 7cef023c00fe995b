"""Tables in and out of ``--map``: which values can be mapped, which rows run, the DataFrame that returns.

A pandas DataFrame (each row), a Series (each value, in a column named after the Series), a list of
dicts or a list of strings (a ``text`` column) can be mapped. pandas is imported only when the data is
pandas or the result is built: it is an optional extra (``pip install 'gemini-magics[map]'``).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Any

ERROR_COLUMN = "error"


class TableError(ValueError):
    """Data that cannot be mapped; one line."""


@dataclass
class Table:
    """The rows to map (dicts, column name → value) and what to rebuild the result from."""

    rows: list[dict[str, Any]]
    columns: list[str]
    index: list[Any] | None = None  # a DataFrame's or Series' index, kept in the result


def table_of(value: Any, name: str) -> Table:
    kind = type(value).__module__.split(".")[0] + "." + type(value).__name__
    if kind == "pandas.DataFrame":
        columns = [str(c) for c in value.columns]
        rows = [
            dict(zip(columns, values, strict=True)) for values in value.itertuples(index=False, name=None)
        ]
        return Table(rows, columns, list(value.index))
    if kind == "pandas.Series":
        column = str(value.name) if value.name is not None else "value"
        return Table([{column: v} for v in value.tolist()], [column], list(value.index))
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value):
            return Table([{"text": v} for v in value], ["text"])
        if all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(str(k) for row in value for k in row))
            return Table([{str(k): v for k, v in row.items()} for row in value], columns)
        raise TableError(f"--map {name}: a list must hold only strings or only dicts")
    raise TableError(
        f"--map {name}: a {type(value).__name__} cannot be mapped; use a pandas DataFrame or Series, "
        "a list of dicts or a list of strings"
    )


def chosen(count: int, limit: int | None, sample: int | None) -> list[int]:
    """The row numbers to run: all, the first ``limit``, or ``sample`` drawn at random (seed 0, in order)."""
    if limit is not None:
        return list(range(min(limit, count)))
    if sample is not None:
        return sorted(random.Random(0).sample(range(count), min(sample, count)))
    return list(range(count))


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A structured answer as columns: nested objects flattened with ``.``, lists kept as objects, enums
    as their values."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if not isinstance(value, dict):
        return {prefix or "answer": _plain(value)}
    columns: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if hasattr(item, "model_dump") or isinstance(item, dict):
            columns.update(flatten(item, name))
        else:
            columns[name] = _plain(item)
    return columns


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v.model_dump() if hasattr(v, "model_dump") else v) for v in value]
    return value


def _free(name: str, taken: set[str]) -> str:
    """``name``, or ``name_answer`` (``_answer_answer``…) where the input already has such a column: the
    input's values are never overwritten."""
    while name in taken:
        name += "_answer"
    return name


def frame(table: Table, rows: list[int], answers: dict[int, dict[str, Any]], errors: dict[int, str]) -> Any:
    """The input's chosen rows with the answer columns and an ``error`` column, in the input's order; a
    column the input already has keeps its values (ours is renamed ``…_answer``)."""
    try:
        import pandas as pd
    except ImportError:
        raise TableError(
            "--map returns a pandas DataFrame: pip install pandas (or 'gemini-magics[map]')"
        ) from None
    records = []
    error_column = _free(ERROR_COLUMN, set(table.columns))
    named: dict[str, str] = {}  # an answer's key → its column (renamed where the input has that name)
    for number in rows:
        record = dict(table.rows[number])
        for key, item in answers.get(number, {}).items():
            if key not in named:
                named[key] = _free(key, {*table.columns, error_column, *named.values()})
            record[named[key]] = item
        record[error_column] = errors.get(number)
        records.append(record)
    columns = [*table.columns, *named.values(), error_column]
    index = [table.index[n] for n in rows] if table.index is not None else None
    result = pd.DataFrame.from_records(records, columns=columns, index=index)
    return result
