"""Reports as files: one table as CSV (UTF-8 with a byte order mark, so Excel reads Chinese) or
XLSX (numbers stay numbers; amounts and rates formatted). Every report export goes through here."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from fastapi import Response

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}, XLSX: {}}}}


def table_file(
    fmt: str, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, position: int
) -> Response:
    """``rows`` under ``columns`` as ``name.csv`` or ``name.xlsx`` (an attachment); ``position``
    is the read model's, answered in ``X-Position`` as for every read."""
    if fmt == "csv":
        content, media_type = _csv(columns, rows), CSV
    else:
        content, media_type = _xlsx(name, columns, rows), XLSX
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"', "X-Position": str(position),
    })  # fmt: skip


def sheets_file(
    fmt: str, name: str, sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]], *, position: int
) -> Response:
    """A report of several tables (``(title, columns, rows)``) as one file: an XLSX sheet per
    table, or a CSV with the tables one after another, each under a line with its title and
    separated by an empty line."""
    if fmt == "csv":
        buffer = io.StringIO()
        buffer.write("\ufeff")
        writer = csv.writer(buffer)
        for number, (title, columns, rows) in enumerate(sheets):
            if number:
                writer.writerow([])
            writer.writerow([title])
            writer.writerow(columns)
            writer.writerows([["" if v is None else v for v in row] for row in rows])
        content, media_type = buffer.getvalue().encode(), CSV
    else:
        content, media_type = _xlsx_sheets(sheets), XLSX
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"', "X-Position": str(position),
    })  # fmt: skip


def _csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel reads the file as UTF-8 only with a byte order mark
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue().encode()


def _xlsx(name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    return _xlsx_sheets([(name, columns, rows)])


def _xlsx_sheets(sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]]) -> bytes:
    import xlsxwriter  # imported when an export is asked for, not at every start

    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, {"in_memory": True})
    for name, columns, rows in sheets:
        _sheet(book, name, columns, rows)
    book.close()
    return output.getvalue()


def _sheet(book: Any, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    sheet = book.add_worksheet(name[:31])
    money = book.add_format({"num_format": "#,##0.00"})
    percent = book.add_format({"num_format": "0.00%"})
    sheet.write_row(0, 0, columns)
    for r, row in enumerate(rows, 1):
        for c, value in enumerate(row):
            column = columns[c] if c < len(columns) else ""
            if value is None:
                continue
            if isinstance(value, Decimal):
                sheet.write_number(r, c, float(value), money)
            elif isinstance(value, float) and column.endswith("rate"):
                sheet.write_number(r, c, value, percent)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    sheet.set_column(0, max(len(columns) - 1, 0), 14)
