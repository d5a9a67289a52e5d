"""The tree reads entry points → runtime → flows → ports ← adapters: no module imports
one above it, and no import cycle anywhere (lazy imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "chalicelib"

# What each part of the tree may import from chalicelib (by module prefix).
BASE = ("chalicelib.errors", "chalicelib.logs", "chalicelib.domain")
ALLOWED: dict[str, tuple[str, ...]] = {
    "chalicelib.domain": ("chalicelib.errors", "chalicelib.domain"),
    "chalicelib.errors": (),
    "chalicelib.logs": ("chalicelib.domain",),
    "chalicelib.redelivery": (),
    "chalicelib.slack_markup": (),
    "chalicelib.settings": ("chalicelib.errors", "chalicelib.redelivery", "chalicelib.names"),
    "chalicelib.retry": ("chalicelib.errors", "chalicelib.logs"),
    "chalicelib.queues": ("chalicelib.domain",),
    "chalicelib.names": ("chalicelib.queues",),
    "chalicelib.public_url": (),
    "chalicelib.ports": ("chalicelib.domain",),
    "chalicelib.plumbing": (
        *BASE,
        "chalicelib.queues",
        "chalicelib.names",
        "chalicelib.retry",
        "chalicelib.redelivery",
        "chalicelib.plumbing",
    ),
    "chalicelib.ingress": (*BASE, "chalicelib.ingress"),
    "chalicelib.adapters": (
        *BASE,
        "chalicelib.ports",
        "chalicelib.plumbing",
        "chalicelib.retry",
        "chalicelib.settings",
        "chalicelib.adapters",
    ),
    # flows and what they call: ports and the queue names, no adapter, no runtime.
    "chalicelib.unsubscribe": BASE,
    "chalicelib.dead_letters": (*BASE, "chalicelib.ports"),
    "chalicelib.marketing": (*BASE, "chalicelib.ports", "chalicelib.unsubscribe"),
    "chalicelib.commands": (*BASE, "chalicelib.ports", "chalicelib.dead_letters", "chalicelib.slack_markup"),
    "chalicelib.flows": (
        *BASE,
        "chalicelib.ports",
        "chalicelib.queues",
        "chalicelib.commands",
        "chalicelib.marketing",
        "chalicelib.slack_markup",
    ),
    "chalicelib.runtime": (
        *BASE,
        "chalicelib.ports",
        "chalicelib.queues",
        "chalicelib.flows",
        "chalicelib.commands",
        "chalicelib.dead_letters",
        "chalicelib.unsubscribe",
        "chalicelib.ingress",
        "chalicelib.plumbing",
        "chalicelib.settings",
        "chalicelib.redelivery",
        "chalicelib.names",
        "chalicelib.runtime",
    ),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chalicelib"):
            found.add(node.module)
            # `from chalicelib import flows` names a module too.
            found.update(
                f"{node.module}.{a.name}"
                for a in node.names
                if (PACKAGE / a.name).exists() or (PACKAGE / f"{a.name}.py").exists()
            )
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("chalicelib"))
    return found


MODULES = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def part_of(module: str) -> str | None:
    return next((p for p in sorted(ALLOWED, key=len, reverse=True) if module == p or module.startswith(p + ".")), None)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if part_of(m)))
def test_no_module_imports_one_above_it(module):
    allowed = ALLOWED[part_of(module) or ""]
    upward = sorted(
        i
        for i in MODULES[module]
        if i != "chalicelib" and not any(i == a or i.startswith(a + ".") for a in allowed) and i != module
    )
    assert upward == [], f"{module} imports {upward}"


def test_no_import_cycle():
    known = set(MODULES)

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph = {m: {r for i in deps if (r := resolve(i)) and r != m} for m, deps in MODULES.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if n.endswith("__init__") or n == "chalicelib":
                continue
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " → ".join([*path[path.index(n) :], n]))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
