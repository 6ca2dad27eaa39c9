"""Path templates: parsing and normalising the paths plugins declare.

A template is a slash-separated path whose segments are literal names or captures
written ``{name}`` or ``{name:converter}``.  Converters turn the raw segment into a
value and reject malformed ones (a rejected segment is simply not that resource, so the
request ends in a 404).  The default converter is ``int`` because AnsFlow's ids are
integers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyramid.exceptions import ConfigurationError

CAPTURE = re.compile(r"^\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<converter>[a-z]+))?\}$")


def _positive_int(raw: str) -> int:
    # Only canonical decimal spellings are ids: "007", "+7" and " 7" are different
    # URLs and must not alias the same resource.
    if not raw.isdigit() or (len(raw) > 1 and raw[0] == "0"):
        raise ValueError(raw)
    value = int(raw)
    if value < 1 or value > 2**63 - 1:
        raise ValueError(raw)
    return value


def _slug(raw: str) -> str:
    if not raw or not re.fullmatch(r"[A-Za-z0-9_.\-]+", raw):
        raise ValueError(raw)
    return raw


CONVERTERS: dict[str, Callable[[str], Any]] = {
    "int": _positive_int,
    "str": _slug,
    "uuid": lambda raw: uuid.UUID(raw),
}


@dataclass(frozen=True)
class Segment:
    """One segment of a path template: a literal name or a named capture."""

    literal: str | None = None
    capture: str | None = None
    converter: str = "int"

    @property
    def is_capture(self) -> bool:
        return self.capture is not None

    def convert(self, raw: str) -> Any:
        """Convert a raw URL segment; raises ``ValueError`` when it is malformed."""
        return CONVERTERS[self.converter](raw)

    def __str__(self) -> str:
        if self.capture is None:
            return str(self.literal)
        suffix = "" if self.converter == "int" else f":{self.converter}"
        return "{" + self.capture + suffix + "}"


@dataclass(frozen=True)
class PathTemplate:
    """A parsed, normalised path template."""

    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, path: str) -> PathTemplate:
        """Parse and normalise ``path``: duplicate slashes go, the case stays as given."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigurationError(f"resource paths must be absolute: {path!r}")
        segments: list[Segment] = []
        seen: set[str] = set()
        for raw in path.split("/"):
            if raw == "":
                continue
            if raw in (".", ".."):
                raise ConfigurationError(f"relative segment in resource path {path!r}")
            match = CAPTURE.match(raw)
            if match:
                name = match["name"]
                converter = match["converter"] or "int"
                if converter not in CONVERTERS:
                    raise ConfigurationError(f"unknown converter {converter!r} in {path!r}")
                if name in seen:
                    raise ConfigurationError(f"capture {name!r} appears twice in {path!r}")
                seen.add(name)
                segments.append(Segment(capture=name, converter=converter))
            elif "{" in raw or "}" in raw:
                raise ConfigurationError(f"malformed capture {raw!r} in {path!r}")
            else:
                segments.append(Segment(literal=raw))
        if not segments:
            raise ConfigurationError("the root path cannot be a resource")
        return cls(tuple(segments))

    @property
    def captures(self) -> tuple[str, ...]:
        return tuple(s.capture for s in self.segments if s.capture is not None)

    @property
    def shape(self) -> tuple[str, ...]:
        """The template with capture names erased: two paths with one shape collide."""
        return tuple("{}" if s.is_capture else str(s.literal) for s in self.segments)

    def __str__(self) -> str:
        """The normalised path, Django style: leading and trailing slash."""
        return "/" + "/".join(str(s) for s in self.segments) + "/"

    def fill(self, values: dict[str, Any]) -> list[str]:
        """The concrete URL segments of this template with ``values`` substituted."""
        return [str(values[s.capture]) if s.capture else str(s.literal) for s in self.segments]
