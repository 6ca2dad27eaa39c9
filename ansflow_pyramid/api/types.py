"""Field types for pydantic schemas that every database can store.

Python integers are unbounded and database integers are not: a schema that accepts
any ``int`` lets a client turn a 400 into an overflow deep in the driver.  Use these in
request schemas.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = [
    "INT64_MAX",
    "BigInt",
    "Id",
    "Int32",
    "NonNegativeInt",
]


INT64_MAX = 2**63 - 1

#: A 64-bit integer.
BigInt = Annotated[int, Field(ge=-INT64_MAX, le=INT64_MAX)]
#: A 32-bit integer (counts, timeouts, orders).
Int32 = Annotated[int, Field(ge=-(2**31) + 1, le=2**31 - 1)]
#: A non-negative 32-bit integer.
NonNegativeInt = Annotated[int, Field(ge=0, le=2**31 - 1)]
#: A primary key or foreign key value.
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
