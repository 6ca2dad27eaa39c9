"""The ``sessions`` table: one row per browser session, data as a JSON document."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ansflow_pyramid.db import Base, utcnow


class SessionRecord(Base):
    """A server-side session.

    ``version`` is SQLAlchemy's version counter: an ORM update of a row that another
    transaction changed meanwhile matches no row and raises ``StaleDataError`` (which
    pyramid_retry retries).  The session store issues the same version-checked
    ``UPDATE ... WHERE version = :seen`` itself.
    """

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, default=None
    )
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<SessionRecord {self.id[:8]}... user={self.user_id} v{self.version}>"
