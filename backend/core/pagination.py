"""Page parameters, the page envelope every list endpoint returns, and reading a page consistently."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Integer, Select, Subquery, bindparam, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

T = TypeVar("T")

MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 100


class PageParams(BaseModel):
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


async def page_params(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> PageParams:
    # A coroutine function: FastAPI runs a plain function dependency on a worker thread.
    return PageParams(page=page, page_size=page_size)


PageDep = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


POSITION = "page_position"
# The page's bounds, bound parameters of the statement ``one_snapshot_page`` builds.
PAGE_OFFSET, PAGE_LIMIT = "page_offset", "page_limit"


def one_snapshot_page(
    query: Select[*tuple[Any, ...]],
    order_by: Sequence[ColumnElement[Any] | QueryableAttribute[Any]],
) -> tuple[Subquery, Select[int]]:
    """A page of ``query`` and its total, for reading in one statement.

    Two statements (the page, then a count) see two snapshots on PostgreSQL under READ COMMITTED:
    rows created or deleted between them made ``total`` disagree with the items. One statement
    sees one snapshot on either engine. Returns the page's rows (``aliased(Model, rows)`` maps
    them) and a statement that carries the total, to which the caller adds the columns it wants
    from the rows; ``read_page`` runs it. The count is outer-joined to the page, so a page past
    the end still brings the total.

    The page itself is a pair of bound parameters (``page_values``), like whatever else varies in
    ``query``: a caller builds the statement once for each shape of its query and runs it for
    every request. Built anew for each request (its subqueries and their columns, the aliased
    entity, the cache key, the result's column map for a statement not seen before), it cost
    about 1.5 ms of the 3.2 ms an in-process list request took.
    """
    rows = (
        query.add_columns(func.row_number().over(order_by=order_by).label(POSITION))
        .order_by(*order_by)
        .offset(bindparam(PAGE_OFFSET, type_=Integer))
        .limit(bindparam(PAGE_LIMIT, type_=Integer))
        .subquery("page_rows")
    )
    total = (
        select(func.count().label("total"))
        .select_from(query.subquery("matching"))
        .subquery("page_total")
    )
    statement = (
        select(total.c.total).select_from(total).outerjoin(rows, true()).order_by(rows.c[POSITION])
    )
    return rows, statement


def page_values(page: PageParams) -> dict[str, int]:
    """The bound parameters of a ``one_snapshot_page`` statement for ``page``."""
    return {PAGE_OFFSET: page.offset, PAGE_LIMIT: page.page_size}


async def read_page(
    session: AsyncSession, statement: Select[*tuple[Any, ...]], values: Mapping[str, Any]
) -> tuple[list[tuple[Any, ...]], int]:
    """Run a ``one_snapshot_page`` statement with its bound ``values`` (``page_values`` and the
    query's own): its rows without the total, and the total."""
    rows = (await session.execute(statement, values)).all()
    total: int = rows[0][0]
    # A page past the end is one row whose item is None (the outer join's NULLs).
    return [tuple(row[1:]) for row in rows if row[1] is not None], total
