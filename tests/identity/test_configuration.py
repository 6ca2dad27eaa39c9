"""Secrets and JWT settings: production refuses weak ones; dev fills in missing ones."""

from __future__ import annotations

import pytest
from pyramid.exceptions import ConfigurationError

from ansflow_pyramid.security.secrets import ensure_secrets, secret_problem

STRONG = {
    "jwt.secret": "j" * 40 + "-jwt-secret-for-production-use",
    "session.secret": "s" * 40,
    "ansflow.secret_key": "k" * 40,
}


def production(**overrides):
    settings = {"ansflow.environment": "production", **STRONG}
    settings.update(overrides)
    return settings


def test_production_accepts_strong_distinct_secrets():
    settings = production()
    ensure_secrets(settings)
    assert settings["jwt.secret"] == STRONG["jwt.secret"]


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("jwt.secret", None, "missing"),
        ("session.secret", "", "missing"),
        ("ansflow.secret_key", "short", "shorter than 32"),
        ("jwt.secret", "dev-only-insecure-jwt-secret-change-me-00000000000000", "development"),
    ],
)
def test_production_refuses_weak_secrets(name, value, reason):
    with pytest.raises(ConfigurationError) as error:
        ensure_secrets(production(**{name: value}))
    message = str(error.value)
    assert name in message and reason in message
    assert "ANSFLOW_" in message  # says how to set it


def test_production_refuses_shared_secrets():
    with pytest.raises(ConfigurationError, match="must differ"):
        ensure_secrets(production(**{"session.secret": STRONG["ansflow.secret_key"]}))


def test_development_generates_missing_secrets(caplog):
    settings = {"ansflow.environment": "development"}
    ensure_secrets(settings)
    assert all(secret_problem(settings[name]) is None for name in STRONG)
    assert "random secret" in caplog.text


def test_production_app_refuses_to_start_with_dev_secrets(make_app):
    with pytest.raises(ConfigurationError, match=r"jwt\.secret"):
        make_app(
            ansflow__environment="production",
            jwt__secret="dev-only-insecure-jwt-secret-change-me-00000000000000",
        )


def test_development_ini_secrets_are_refused_in_production():
    from configparser import ConfigParser
    from pathlib import Path

    parser = ConfigParser(interpolation=None)
    parser.read(Path(__file__).parents[2] / "development.ini")
    section = parser["app:main"]
    for name in STRONG:
        assert section.get(name), f"development.ini must set {name} so pserve works"
        assert secret_problem(section[name]) == "is a development default"


def test_unknown_or_none_algorithm_is_a_configuration_error(make_app):
    for algorithm in ("none", "RS256"):
        with pytest.raises(ConfigurationError, match=r"jwt\.algorithm"):
            make_app(jwt__algorithm=algorithm)


def test_production_hs512_needs_a_long_key(make_app):
    with pytest.raises(ConfigurationError, match="64 bytes"):
        make_app(ansflow__environment="production", jwt__algorithm="HS512")


def test_production_ini_takes_secrets_from_the_environment(tmp_path):
    from pathlib import Path

    from pyramid.paster import get_appsettings

    from ansflow_pyramid import make_configurator

    ini = str(Path(__file__).parents[2] / "production.ini")
    environ = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/prod.sqlite",
        "REDIS_URL": "",
        "ANSFLOW_DISPATCH": "none",
    }
    with pytest.raises(ConfigurationError, match="ANSFLOW_JWT_SECRET"):
        make_configurator(dict(get_appsettings(ini)), environ=environ)
    environ.update(
        ANSFLOW_SECRET_KEY=STRONG["ansflow.secret_key"],
        ANSFLOW_JWT_SECRET=STRONG["jwt.secret"],
        ANSFLOW_SESSION_SECRET=STRONG["session.secret"],
    )
    config = make_configurator(dict(get_appsettings(ini)), environ=environ)
    try:
        from ansflow_pyramid.sessions import get_session_store

        assert get_session_store(config.registry).config.secure is True
    finally:
        runtime = config.registry.get("ansflow.execution")
        if runtime is not None:
            runtime.close()
        config.registry["db_engine"].dispose()


def test_test_processes_hash_with_cheap_argon2id():
    from ansflow_pyramid.identity import passwords

    stored = passwords.hash_password("s3cret-pass")
    assert stored.startswith("$argon2id$") and "m=8,t=1,p=1" in stored
    assert passwords.verify_password(stored, "s3cret-pass")
    assert not passwords.verify_password(stored, "wrong")
