"""Small helpers the page modules share: reading query arguments, exports, page links."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from flask import Response, abort, request, url_for

from models.exports import write_csv, write_workbook
from models.numbers import parse_int
from models.period import parse_period, shift_period
from models.privacy import mask_phone
from models.reads.common import MAX_PERIODS, periods_between
from models.scope import Scope


def arg_int(name: str, default: int | None = None) -> int | None:
    """A whole-number query argument, or the default when missing, not a number or larger
    than an id column holds (models.numbers)."""
    return parse_int(request.args.get(name, ""), default)


def arg_page() -> int:
    """The page number asked for (1 when missing or nonsense)."""
    return max(1, arg_int("page", 1) or 1)


def arg_branch(scope: Scope) -> int | None:
    """The branch filter, if it is one of the user's branches (else 404: not theirs)."""
    branch_id = arg_int("branch")
    if branch_id is not None and branch_id not in scope.branch_ids:
        abort(404)
    return branch_id


def arg_periods(default_last: str, default_count: int) -> tuple[list[str], str | None]:
    """The range of periods from ?from= and ?to=, with an error text when the range is bad."""
    last = parse_period(request.args.get("to")) or default_last
    first = parse_period(request.args.get("from")) or shift_period(last, 1 - default_count)
    try:
        return periods_between(first, last), None
    except ValueError:
        fallback = periods_between(shift_period(default_last, 1 - default_count), default_last)
        return fallback, f"{first} – {last}: max {MAX_PERIODS}"


def page_url(page: int) -> str:
    """This page's address with another page number, keeping the other arguments."""
    args: dict[str, Any] = {**(request.view_args or {}), **request.args.to_dict(flat=False)}
    args["page"] = str(page)
    return url_for(request.endpoint or "admin.dashboard", **args)


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A CSV download, UTF-8 with a byte-order mark so that Excel shows the Chinese."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    write_csv(buffer, header, rows)
    return download(buffer.getvalue().encode("utf-8"), filename, "text/csv; charset=utf-8")


def xlsx_response(
    filename: str, sheet: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Response:
    """An XLSX download written in one pass (openpyxl's write-only mode)."""
    buffer = io.BytesIO()
    write_workbook(buffer, sheet, header, rows)
    return download(
        buffer.getvalue(),
        filename,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


# Characters no download name keeps: path separators, quotes, what Windows refuses in a file
# name, and control characters (a newline would end the header).
UNSAFE_FILENAME_RE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')


def download_filename(name: str) -> str:
    """A file name for Content-Disposition made from any text (a season typed by a user):
    unsafe characters become `_`, at most 100 characters."""
    return UNSAFE_FILENAME_RE.sub("_", name).strip()[:100] or "export"


def download(body: bytes, filename: str, mimetype: str) -> Response:
    response = Response(body, mimetype=mimetype)
    name = download_filename(filename)
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
    )
    return response


PHONE_COLUMNS = frozenset({"phone", "other_phone"})


class ColumnRefused(ValueError):
    """An export asked for a column it does not have."""


def chosen_columns(
    keys: Sequence[str], rows: Iterable[Sequence[Any]], *, full_phone: bool
) -> tuple[list[str], list[list[Any]]]:
    """An export cut to the columns the user ticked (`?col=phone&col=name`, every column when
    none is given), in the export's own order; phone numbers masked unless `full_phone`.
    An unknown column is refused (ColumnRefused), never silently dropped."""
    wanted = [c for c in request.args.getlist("col") if c]
    unknown = [c for c in wanted if c not in keys]
    if unknown:
        raise ColumnRefused(unknown[0][:40])
    picked = [i for i, key in enumerate(keys) if not wanted or key in wanted]
    masked = set() if full_phone else {i for i in picked if keys[i] in PHONE_COLUMNS}
    out = [
        [mask_phone(str(row[i] or "")) if i in masked else row[i] for i in picked] for row in rows
    ]
    return [keys[i] for i in picked], out
