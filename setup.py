"""Packaging for ansflow-pyramid: the core package plus the built-in plugins.

Built-in plugins live under ``plugins/`` and install under their own ``ansflow_*``
import names.  They are announced through the ``ansflow.plugins`` entry-point group,
exactly as a third-party distribution would announce its plugins.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# Every top-level package under plugins/ is a built-in plugin.
BUILTIN_PLUGINS = sorted(
    p.name for p in (HERE / "plugins").iterdir() if (p / "__init__.py").is_file()
)
plugin_packages = find_packages("plugins")

requires = [
    "pyramid>=2.0",
    "itsdangerous>=2.1",
    "waitress>=3.0",
    "plaster_pastedeploy",
    "pyramid_tm>=2.5",
    "pyramid_retry>=2.1",
    "transaction>=4.0",
    "zope.sqlalchemy>=3.0",
    "SQLAlchemy>=2.0,<2.2",
    "alembic>=1.13",
    "psycopg[binary]>=3.1",
    "redis>=5.0",
    "pyramid_jwt>=1.6.1",
    "PyJWT>=2.8",
    "pydantic>=2.6",
    "orjson>=3.10",
    "argon2-cffi>=23.1",
    "cryptography>=42",
    "rq>=1.16",
    "croniter>=6.0",
    "swagger-ui-py>=23.9",
    # The ASGI entry point (WebSockets next to the HTTP API): see ansflow_pyramid/sockets.
    "a2wsgi>=1.10",
    "uvicorn>=0.30",
    "websockets>=13",
    "httptools>=0.6",
    "httpx>=0.27,<1",
    # The Ansible plugin runs Ansible's own programs (ansible-playbook, ansible,
    # ansible-inventory), installed next to the application's Python.
    "ansible-core>=2.17",
    # The GitLab CI and GitHub Actions plugins write .gitlab-ci.yml and workflow files.
    "PyYAML>=6.0",
]

tests_require = [
    "WebTest>=3.0",
    "pytest>=8",
    "pytest-timeout>=2.3",
    "schemathesis>=3.30",
    "openapi-spec-validator>=0.7",
    "ruff>=0.5",
    "requests>=2.31",
    "import-linter>=2.1",
    # The event-stream client of the tests and benchmarks (tests/sse_client.py).
    "httpx>=0.27",
    "httpx-sse>=0.4",
]

setup(
    name="ansflow-pyramid",
    version="0.1.0",
    description="The AnsFlow CI/CD platform's API on Pyramid",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["ansflow_pyramid", "ansflow_pyramid.*"]) + plugin_packages,
    package_dir={name: "plugins/" + name.replace(".", "/") for name in plugin_packages},
    include_package_data=True,
    package_data={
        "ansflow_pyramid": ["migrations/*.mako", "migrations/*.ini"],
        "": ["migrations/*.py", "migrations/versions/*.py"],
    },
    zip_safe=False,
    install_requires=requires,
    extras_require={"testing": tests_require},
    entry_points={
        "paste.app_factory": ["main = ansflow_pyramid:main"],
        "paste.server_runner": ["uvicorn = ansflow_pyramid.sockets.serve:run_uvicorn"],
        "console_scripts": ["ansflow = ansflow_pyramid.cli:main"],
        "pytest11": ["ansflow = ansflow_pyramid.testing"],
        "ansflow.plugins": [
            f"{name.removeprefix('ansflow_')} = {name}" for name in BUILTIN_PLUGINS
        ],
    },
)
