"""``ansflow create-user`` and ``ansflow prune-sessions`` against the test database."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import func, select

from ansflow_pyramid.cli import main
from ansflow_pyramid.db import utcnow
from ansflow_pyramid.identity.models import LoginFailure, RefreshToken, User
from ansflow_pyramid.identity.passwords import verify_password
from ansflow_pyramid.sessions import SessionRecord
from tests.identity.conftest import obtain


@pytest.fixture
def ini(tmp_path, ansflow_settings, monkeypatch, testapp):
    """An ini file for the test database; the environment must not redirect it."""
    for name in ("DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "cli.ini"
    path.write_text(
        "[app:main]\n"
        "use = egg:ansflow-pyramid\n"
        f"sqlalchemy.url = {ansflow_settings['sqlalchemy.url']}\n"
        "redis.url =\n"
        "ansflow.dispatch = none\n"
        f"jwt.secret = {ansflow_settings['jwt.secret']}\n"
        f"session.secret = {ansflow_settings['session.secret']}\n"
        f"ansflow.secret_key = {ansflow_settings['ansflow.secret_key']}\n"
    )
    return str(path)


def test_create_superuser_from_stdin(ini, monkeypatch, capsys, dbsession, testapp):
    monkeypatch.setattr("sys.stdin", io.StringIO("a strong password\n"))
    assert (
        main(["create-user", ini, "admin", "--superuser", "--password-stdin", "--email", "a@b.c"])
        == 0
    )
    assert "created superuser 'admin'" in capsys.readouterr().out
    with dbsession() as session:
        user = session.scalars(select(User).where(User.username == "admin")).one()
        assert user.is_superuser and user.is_staff and user.email == "a@b.c"
        assert verify_password(user.password_hash, "a strong password")
    assert obtain(testapp, "admin", "a strong password")["access"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_create_user_on_a_pipe_without_password_stdin_explains_itself(ini, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a strong password\n"))
    assert main(["create-user", ini, "admin", "--superuser"]) == 2
    error = capsys.readouterr().err
    assert "--password-stdin" in error and "not a terminal" in error
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["create-user", ini, "admin", "--password-stdin"]) == 2
    assert "empty" in capsys.readouterr().err


def test_create_user_prompts_twice(ini, monkeypatch, capsys, dbsession):
    monkeypatch.setattr("sys.stdin", Terminal())
    answers = iter(["first password", "other password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["create-user", ini, "bob"]) == 2
    assert "do not match" in capsys.readouterr().err
    answers = iter(["same password", "same password"])
    assert main(["create-user", ini, "bob"]) == 0
    with dbsession() as session:
        user = session.scalars(select(User).where(User.username == "bob")).one()
        assert not user.is_superuser


def test_create_user_refuses_duplicates_and_bad_input(ini, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a strong password\n"))
    assert main(["create-user", ini, "carol", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a strong password\n"))
    assert main(["create-user", ini, "carol", "--password-stdin"]) == 2
    assert "exists already" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["create-user", ini, "dave", "--password-stdin"]) == 2
    assert main(["create-user", ini, "bad name", "--password-stdin"]) == 2


def test_prune_sessions(ini, capsys, dbsession, testapp, make_user):
    make_user("alice")
    pair = obtain(testapp, "alice")
    past = utcnow() - dt.timedelta(days=1)
    with dbsession() as session:
        session.add(SessionRecord(id="expired", data={}, expires_at=past))
        session.add(SessionRecord(id="live", data={}, expires_at=utcnow() + dt.timedelta(days=1)))
        session.get(RefreshToken, _jti(pair["refresh"])).expires_at = past
        session.add(LoginFailure(scope="user", key="k", failed_at=past))
        session.add(LoginFailure(scope="address", key="k", failed_at=past))
        session.add(LoginFailure(scope="address", key="recent", failed_at=utcnow()))
    assert main(["prune-sessions", ini]) == 0
    out = capsys.readouterr().out
    assert "removed 1 expired sessions, 1 expired refresh tokens, 2 old failed-login records" in out
    with dbsession() as session:
        assert [r.id for r in session.scalars(select(SessionRecord))] == ["live"]
        assert session.scalar(select(func.count()).select_from(RefreshToken)) == 0
        assert [f.key for f in session.scalars(select(LoginFailure))] == ["recent"]


def _jti(token: str) -> str:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})["jti"]
