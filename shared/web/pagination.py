"""The list shape of every service: ``{"items", "page", "per_page", "total"}`` in the body.

flask-smorest's built-in pagination puts its metadata in a header and returns a bare list;
the contract is the body shape, so lists use :class:`PageArgs` and :func:`page_schema` instead.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session

MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 50


class PageArgs(ma.Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=DEFAULT_PER_PAGE, validate=validate.Range(min=1, max=MAX_PER_PAGE))


@lru_cache(maxsize=None)
def page_schema(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    name = item_schema.__name__.removesuffix("Schema") + "Page"
    return type(name, (ma.Schema,), {
        "items": fields.List(fields.Nested(item_schema), required=True),
        "page": fields.Integer(required=True),
        "per_page": fields.Integer(required=True),
        "total": fields.Integer(required=True),
    })


def paginate(session: Session, statement, page: int, per_page: int) -> dict[str, Any]:
    total = session.execute(select(func.count()).select_from(statement.order_by(None).subquery())).scalar_one()
    rows = session.execute(statement.limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return {"items": rows, "page": page, "per_page": per_page, "total": total}


def page_of(items: list, page: int, per_page: int, total: int) -> dict[str, Any]:
    return {"items": items, "page": page, "per_page": per_page, "total": total}
