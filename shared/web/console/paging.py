"""Lists in pages: ``Page`` for a template's ``pager(page)``, ``paginate`` for a SQL query.

A list is never loaded whole: :func:`paginate` runs the statement with ``LIMIT``/``OFFSET`` and
one ``COUNT`` over the same rows. :func:`page_number` reads ``?page=`` (bad values → page 1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from flask import request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

PER_PAGE = 25


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    page: int
    per_page: int
    total: int
    #: Query parameters the pager's links keep (filters, search).
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page)) if self.per_page else 1

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    @property
    def first_index(self) -> int:
        """1-based position of the first item shown (0 when empty)."""
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.per_page + len(self.items)

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def page_number(name: str = "page") -> int:
    try:
        number = int(request.args.get(name, "1"))
    except ValueError:
        return 1
    return min(max(number, 1), 1_000_000)


def paginate(session: Session, statement: Select, *, page: int, per_page: int = PER_PAGE,
             args: dict[str, Any] | None = None, scalars: bool = True) -> Page:
    """One page of ``statement``'s rows (ORM objects with ``scalars``, else rows)."""
    total = session.execute(select(func.count()).select_from(
        statement.order_by(None).subquery())).scalar_one()
    result = session.execute(statement.limit(per_page).offset((page - 1) * per_page))
    items = list(result.scalars() if scalars else result.all())
    return Page(items, page, per_page, total, dict(args or {}))
