"""List parameters: DRF-style pagination, field filters, ordering and search."""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pyramid.request import Request
from sqlalchemy import BigInteger, Integer, Select, SmallInteger, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ansflow_pyramid.api.errors import APIError, NotFound, ValidationFailed

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


def convert_value(raw: str, python_type: type) -> Any:
    """Convert a query-string value to ``python_type``; raises ``ValueError``."""
    if python_type is bool:
        word = raw.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError("must be a boolean (true/false)")
    if python_type is int:
        value = int(raw)
        if abs(value) > 2**63 - 1:
            raise ValueError("is out of range")
        return value
    if python_type is dt.datetime:
        value = dt.datetime.fromisoformat(raw)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(python_type, type) and issubclass(python_type, enum.Enum):
        return python_type(raw)
    return python_type(raw)


@dataclass(frozen=True)
class Filter:
    """A query parameter that narrows a list.

    ``column`` is the mapped attribute compared for equality (repeated parameters
    mean "any of").  ``choices`` restricts accepted values.  ``apply`` replaces the
    comparison entirely: ``apply(select, values) -> select``.
    """

    column: InstrumentedAttribute[Any] | None = None
    python_type: type | None = None
    choices: tuple[str, ...] | None = None
    apply: Callable[[Select[Any], list[Any]], Select[Any]] | None = None

    def value_type(self) -> type:
        if self.python_type is not None:
            return self.python_type
        if self.column is not None:
            try:
                return self.column.type.python_type
            except NotImplementedError:
                return str
        return str

    def int_bounds(self) -> tuple[int, int]:
        """The range of integers the filtered column can hold (PostgreSQL is strict)."""
        column_type = getattr(self.column, "type", None)
        if isinstance(column_type, SmallInteger):
            return -(2**15), 2**15 - 1
        if isinstance(column_type, Integer) and not isinstance(column_type, BigInteger):
            return -(2**31), 2**31 - 1
        return -(2**63) + 1, 2**63 - 1

    def holds(self, value: Any) -> bool:
        """Whether the filtered column can hold ``value`` at all."""
        if isinstance(value, int) and not isinstance(value, bool):
            low, high = self.int_bounds()
            return low <= value <= high
        return True

    def convert(self, raw: str) -> Any:
        if self.choices is not None and raw not in self.choices:
            raise ValueError(f"must be one of: {', '.join(self.choices)}")
        value = convert_value(raw, self.value_type())
        if not self.holds(value):
            raise ValueError("is out of range")
        return value

    def narrow(self, query: Select[Any], values: list[Any]) -> Select[Any]:
        if self.apply is not None:
            return self.apply(query, values)
        assert self.column is not None
        if len(values) == 1:
            return query.where(self.column == values[0])
        return query.where(self.column.in_(values))


def apply_filters(
    request: Request, query: Select[Any], filters: Mapping[str, Filter]
) -> Select[Any]:
    """Narrow ``query`` by the request's filter parameters; bad values are a 400."""
    errors: dict[str, list[str]] = {}
    for name, spec in filters.items():
        raws = [raw for raw in request.GET.getall(name) if raw != ""]
        if not raws:
            continue
        try:
            values = [spec.convert(raw) for raw in raws]
        except (ValueError, TypeError) as error:
            errors[name] = [f"Invalid filter value: {error}"]
            continue
        query = spec.narrow(query, values)
    if errors:
        raise ValidationFailed(errors, "Invalid filter.")
    return query


def apply_search(
    request: Request, query: Select[Any], fields: tuple[InstrumentedAttribute[Any], ...]
) -> Select[Any]:
    """``?search=`` matches any of ``fields`` case-insensitively."""
    term = request.GET.get("search", "").strip()
    if not term or not fields:
        return query
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return query.where(or_(*(field.ilike(pattern, escape="\\") for field in fields)))


def apply_ordering(
    request: Request,
    query: Select[Any],
    fields: Mapping[str, InstrumentedAttribute[Any]],
    default: tuple[str, ...],
    tiebreaker: InstrumentedAttribute[Any],
) -> Select[Any]:
    """``?ordering=-created_at,name``: known fields only; the id breaks ties."""
    raw = request.GET.get("ordering", "")
    words = [w.strip() for w in raw.split(",") if w.strip()] or list(default)
    clauses = []
    for word in words:
        descending = word.startswith("-")
        name = word.lstrip("-")
        column = fields.get(name)
        if column is None:
            raise ValidationFailed(
                {
                    "ordering": [
                        f"Unknown ordering field {name!r}; use one of: {', '.join(sorted(fields))}."
                    ]
                },
                "Invalid ordering.",
            )
        clauses.append(column.desc() if descending else column.asc())
    # A stable order keeps pages from overlapping when values tie.
    clauses.append(tiebreaker.desc() if words and words[-1].startswith("-") else tiebreaker.asc())
    return query.order_by(*clauses)


def _positive_int_param(request: Request, name: str, default: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValidationFailed({name: ["A positive integer is required."]}, f"Invalid {name}.")
    return value


@dataclass
class Page:
    """One page of results, rendered in DRF's shape."""

    count: int
    results: list[Any]
    page: int
    page_size: int

    def render(self, request: Request) -> dict[str, Any]:
        last = max(1, math.ceil(self.count / self.page_size))
        return {
            "count": self.count,
            "next": _page_url(request, self.page + 1) if self.page < last else None,
            "previous": _page_url(request, self.page - 1) if self.page > 1 else None,
            "results": self.results,
        }


def _page_url(request: Request, page: int) -> str:
    params = [(k, v) for k, v in request.GET.items() if k != "page"]
    if page > 1:
        params.append(("page", str(page)))
    query = urlencode(params)
    return request.path_url + ("?" + query if query else "")


def paginate(
    request: Request,
    dbsession: Session,
    query: Select[Any],
    default_page_size: int,
    max_page_size: int,
) -> tuple[int, list[Any], int, int]:
    """Count and slice ``query`` by ``page``/``page_size``; past the last page is a 404."""
    page = _positive_int_param(request, "page", 1)
    page_size = min(_positive_int_param(request, "page_size", default_page_size), max_page_size)
    count = dbsession.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    if page > 1 and (page - 1) * page_size >= count:
        raise NotFound("Invalid page.", code="invalid_page")
    if page * page_size > 2**62:
        raise APIError("Page out of range.", code="invalid_page")
    rows = list(dbsession.scalars(query.limit(page_size).offset((page - 1) * page_size)))
    return count, rows, page, page_size


def check_list_parameters(request: Request, collection: Any) -> None:
    """Validate every list parameter (filters, ordering, page, page_size) together,
    so one 400 names each invalid one instead of the first met."""
    from ansflow_pyramid.api.params import QueryParameters

    probe = select(collection.primary_key())
    with QueryParameters(request) as params:
        params.check(apply_filters, request, probe, collection.filters)
        params.check(
            apply_ordering,
            request,
            probe,
            collection.ordering_fields,
            collection.default_ordering,
            collection.primary_key(),
        )
        params.check(_positive_int_param, request, "page", 1)
        params.check(_positive_int_param, request, "page_size", collection.page_size)
