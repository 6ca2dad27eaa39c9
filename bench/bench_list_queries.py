"""SQL statements and time per list page of projects, pipelines and tools, for pages of
10 and 100 rows: the derived fields (owner, members, counts, tool names) must not cost
a query per row.

    .venv/bin/python bench/bench_list_queries.py [--rows 100] [--repeat 20]
        [--database-url postgresql://...]

Prints, per list, the statements one request runs (counted by a SQLAlchemy event
listener on the application's engine) and the median time of a request through
webtest (no network), for both page sizes.  SQLite in a temporary folder by default;
``--database-url`` creates (and drops) a scratch PostgreSQL database.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from ansflow_cicd.models import Tool
from ansflow_pipelines.models import Pipeline
from ansflow_projects.models import Project, ProjectMembership
from sqlalchemy import event
from webtest import TestApp

from ansflow_pyramid import make_configurator, migrations
from ansflow_pyramid.db import session_scope
from ansflow_pyramid.db.scratch import create_scratch_database, drop_database
from ansflow_pyramid.identity.services import create_user

PASSWORD = "bench-password-123"
LISTS = {
    "projects": "/api/v1/projects/projects/",
    "pipelines": "/api/v1/pipelines/pipelines/",
    "tools": "/api/v1/cicd/tools/",
}


def build_app(database_url: str) -> Any:
    settings = {
        "sqlalchemy.url": database_url,
        "redis.url": "",
        "ansflow.secret_key": "bench-secret-" + "x" * 40,
        "jwt.secret": "bench-jwt-" + "x" * 40,
        "session.secret": "bench-session-" + "x" * 40,
        "ansflow.dispatch": "none",
        "ansflow.reaper": "false",
    }
    app = make_configurator(settings, environ={}).make_wsgi_app()
    migrations.upgrade(app.registry)
    return app


def seed(app: Any, rows: int) -> None:
    """``rows`` projects of the benchmark user (another member each, a pipeline each on
    a tool each), the user being an ordinary member, not a superuser."""
    with session_scope(app.registry["dbsession_factory"]) as session:
        user = create_user(session, "bench", PASSWORD)
        other = create_user(session, "other", PASSWORD)
        for index in range(rows):
            project = Project(name=f"project {index:04}", owner_id=user.id)
            session.add(project)
            session.flush()
            session.add(ProjectMembership(project_id=project.id, user_id=user.id, role="owner"))
            session.add(ProjectMembership(project_id=project.id, user_id=other.id, role="guest"))
            tool = Tool(
                project_id=project.id, name="ci", tool_type="jenkins", created_by_id=user.id
            )
            session.add(tool)
            session.flush()
            session.add(
                Pipeline(
                    project_id=project.id,
                    name=f"pipeline {index}",
                    created_by_id=user.id,
                    execution_tool_id=tool.id,
                )
            )


def measure(app: Any, client: TestApp, headers: dict[str, str], url: str, repeat: int) -> Any:
    engine = app.registry["db_engine"]
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    client.get(url, headers=headers)
    event.listen(engine, "before_cursor_execute", record)
    try:
        client.get(url, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url, headers=headers)
        times.append(time.perf_counter() - started)
    return len(statements), statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.database_url:
            url = create_scratch_database(args.database_url, prefix="ansflow_bench")
        else:
            url = f"sqlite:///{Path(folder) / f'bench-{uuid.uuid4().hex[:6]}.sqlite'}"
        try:
            app = build_app(url)
            seed(app, args.rows)
            client = TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
            token = client.post_json(
                "/api/v1/auth/token/", {"username": "bench", "password": PASSWORD}
            ).json["access"]
            headers = {"Authorization": f"Bearer {token}"}
            print(f"{'list':<10} {'rows':>5} {'statements':>11} {'median ms':>10}")
            for name, path in LISTS.items():
                for size in (10, args.rows):
                    count, millis = measure(
                        app, client, headers, f"{path}?page_size={size}", args.repeat
                    )
                    print(f"{name:<10} {size:>5} {count:>11} {millis:>10.1f}")
            app.registry["db_engine"].dispose()
        finally:
            if args.database_url:
                drop_database(url)


if __name__ == "__main__":
    main()
