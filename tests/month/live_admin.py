"""A staff member's browser session against the live web process: login, pages, forms."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import requests

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PASSWORD = "month-pass-1"


@dataclass
class LiveAdmin:
    """One logged-in user of /admin, over real HTTP with cookies, as a browser would be."""

    base: str
    http: requests.Session = field(default_factory=requests.Session)

    def login(self, username: str, password: str = PASSWORD) -> LiveAdmin:
        """Log in through the form; fail loudly if the login does not take."""
        token = self.csrf("/admin/login")
        response = self.http.post(
            self.base + "/admin/login",
            data={"csrf_token": token, "username": username, "password": password},
            timeout=30,
        )
        assert response.status_code == 200 and "/admin/login" not in response.url, response.text[
            :500
        ]
        return self

    def get(self, path: str, **params: Any) -> requests.Response:
        """GET a page; a 500 is always a failure."""
        response = self.http.get(self.base + path, params=params, timeout=30)
        assert response.status_code < 500, f"{path}: {response.status_code}"
        return response

    def csrf(self, path: str) -> str:
        """The CSRF token of the form on a page."""
        match = CSRF.search(self.get(path).text)
        assert match, f"no form on {path}"
        return match.group(1)

    def post(
        self, form_page: str, path: str, data: dict[str, Any], files: Any = None
    ) -> requests.Response:
        """Submit a form found on `form_page` to `path`, as the browser would."""
        payload = {"csrf_token": self.csrf(form_page), **data}
        response = self.http.post(self.base + path, data=payload, files=files, timeout=60)
        assert response.status_code < 500, f"{path}: {response.status_code}"
        return response


class _Tables(HTMLParser):
    """Collects the text of each cell of each body row of one table, by its id."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.depth = table_id, 0
        self.in_body = False
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and (self.depth or dict(attrs).get("id") == self.table_id):
            self.depth += 1
        elif self.depth and tag == "tbody":
            self.in_body = True
        elif self.depth and self.in_body and tag == "tr":
            self.rows.append([])
        elif self.depth and self.in_body and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif tag == "tbody":
            self.in_body = False
        elif tag in ("td", "th") and self.cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """The body rows of the table with this id, each a list of its cells' text."""
    parser = _Tables(table_id)
    parser.feed(html)
    return parser.rows
