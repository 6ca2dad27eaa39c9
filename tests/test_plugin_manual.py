"""docs/PLUGINS.md names only public API, and the example plugin needs nothing else.

"Public" means: listed in the ``__all__`` of a module the manual documents.  The
example third-party plugin (examples/ansflow-quality) is checked by reading its source,
so this test runs whether or not the example is installed.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
MANUAL = ROOT / "docs" / "PLUGINS.md"
EXAMPLE = ROOT / "examples" / "ansflow-quality" / "ansflow_quality"
FIRST_PARTY = ("ansflow_pyramid", "ansflow_projects", "ansflow_pipelines", "ansflow_cicd")


def documented_modules() -> set[str]:
    table = MANUAL.read_text().split("## 0.")[1].split("## 1.")[0]
    return set(re.findall(r"^\| `([a-z_.]+)` \|", table, flags=re.MULTILINE))


def imports_in(source: str) -> list[tuple[str, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
    return found


def manual_imports() -> list[tuple[str, str]]:
    blocks = re.findall(r"```python\n(.*?)```", MANUAL.read_text(), flags=re.DOTALL)
    found = []
    for block in blocks:
        lines = [line for line in block.splitlines() if line.startswith(("from ", "import "))]
        found += imports_in("\n".join(lines))
    return found


def check(module: str, name: str, documented: set[str]) -> str | None:
    if module not in documented:
        return f"{module} (for {name}) is not a documented public module"
    exported = getattr(importlib.import_module(module), "__all__", ())
    if name not in exported:
        return f"{module}.{name} is not in {module}.__all__"
    return None


def test_every_name_the_manual_imports_is_public():
    documented = documented_modules()
    assert {"ansflow_pyramid.api", "ansflow_pyramid.execution"} <= documented
    imported = [(m, n) for m, n in manual_imports() if m.startswith(FIRST_PARTY)]
    assert ("ansflow_pyramid.execution", "StepRunner") in imported
    problems = [p for m, n in imported if (p := check(m, n, documented))]
    assert problems == []


def test_every_name_in_the_module_table_is_public():
    table = MANUAL.read_text().split("## 0.")[1].split("## 1.")[0]
    problems = []
    for module, names in re.findall(r"^\| `([a-z_.]+)` \| (.*) \|$", table, re.MULTILINE):
        exported = getattr(importlib.import_module(module), "__all__", ())
        for name in re.findall(r"`([A-Za-z_]+)`", names):
            # Directives (add_*) are methods of Pyramid's config, not importable names.
            if name not in exported and not name.startswith(("add_", "ansflow")):
                problems.append(f"{module}.{name}")
    assert problems == []


def test_the_example_plugin_imports_only_documented_names():
    documented = documented_modules()
    problems = []
    for path in sorted(EXAMPLE.glob("*.py")):
        for module, name in imports_in(path.read_text()):
            if module.startswith(FIRST_PARTY):
                problem = check(module, name, documented)
                if problem:
                    problems.append(f"{path.name}: {problem}")
    assert problems == []
