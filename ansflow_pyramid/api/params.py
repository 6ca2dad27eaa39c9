"""Query parameters read together, so one response names every invalid one.

::

    with QueryParameters(request) as params:
        offset = params.integer("offset", None, 0, 2**62)
        limit = params.integer("limit", None, 1, 1000)
    # Leaving the block raises one ValidationFailed naming offset *and* limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from pyramid.request import Request

from ansflow_pyramid.api.errors import ValidationFailed

T = TypeVar("T")

WHOLE_NUMBER = re.compile(r"-?[0-9]{1,30}")


class QueryParameters:
    """Collects the errors of a request's query parameters; raises them all at once."""

    def __init__(self, request: Request, detail: str = "Invalid query parameters.") -> None:
        self.request = request
        self.detail = detail
        self.errors: dict[str, list[str]] = {}

    def integer(self, name: str, default: int | None, low: int, high: int) -> int | None:
        """A whole number in ``[low, high]``; ``default`` when absent or empty."""
        raw = self.request.GET.get(name)
        if raw is None or raw == "":
            return default
        if not WHOLE_NUMBER.fullmatch(raw.strip()):
            self.errors.setdefault(name, []).append("A whole number is required.")
            return default
        value = int(raw)
        if not low <= value <= high:
            self.errors.setdefault(name, []).append(f"Must be between {low} and {high}.")
            return default
        return value

    def check(self, reader: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Run ``reader``; a ``ValidationFailed`` it raises is collected, not raised."""
        try:
            return reader(*args, **kwargs)
        except ValidationFailed as error:
            for field, messages in (error.errors or {}).items():
                self.errors.setdefault(field, []).extend(messages)
            return None

    def raise_errors(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors, self.detail)

    def __enter__(self) -> QueryParameters:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.raise_errors()
