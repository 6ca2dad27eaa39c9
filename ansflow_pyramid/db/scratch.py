"""Throw-away PostgreSQL databases, for test runs and benchmarks.

Each run gets a database of its own on the server a URL names, so parallel runs never
meet; it is dropped (connections and all) when the run ends.
"""

from __future__ import annotations

import os
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url


def _admin_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_scratch_database(url: str, prefix: str | None = None) -> str:
    """Create an empty database on the server of ``url``; return its URL."""
    parsed = _admin_url(url)
    prefix = prefix or f"{parsed.database or 'ansflow'}_t{os.getpid()}"
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop the database ``url`` names, closing any connection still open to it."""
    parsed = _admin_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()
