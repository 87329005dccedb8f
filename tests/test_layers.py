"""The package's architecture: each layer imports only the layers below it, and no module imports
itself round a circle. Imports inside functions count as much as those at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import seqmaxent

PACKAGE = Path(seqmaxent.__file__).parent

# Lowest first. A module may import its own layer and those before it; the package's __init__
# (the public API, loaded lazily) may import anything.
LAYERS = [
    ("base", {"errors", "formatting", "interrupts", "_core"}),
    ("io", None),
    ("network", None),
    ("explain", None),
    ("sampling", None),
    ("cli", None),
]


def layer(module: str) -> int:
    """The layer of a module named relative to the package ('io.store', 'errors')."""
    top = module.split(".")[0]
    for rank, (name, members) in enumerate(LAYERS):
        if top == name or (members is not None and top in members):
            return rank
    raise AssertionError(f"seqmaxent.{module} is in no layer: add it to LAYERS in {__file__}")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(module: str, path: Path) -> set[str]:
    """The package's modules that `module` imports, anywhere in its body."""
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    known = modules()
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            stem = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                child = f"{stem}.{alias.name}" if stem else alias.name
                found.add(child if child in known else stem)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found |= {n.removeprefix("seqmaxent.") for n in names if n.startswith("seqmaxent.")}
    return {m for m in found if m and m != module}


def test_every_module_has_a_layer_and_imports_only_below_it():
    wrong = []
    for module, path in modules().items():
        for target in imports(module, path):
            if layer(target) > layer(module):
                wrong.append(f"seqmaxent.{module} ({LAYERS[layer(module)][0]}) imports seqmaxent.{target} "
                             f"({LAYERS[layer(target)][0]})")
    assert not wrong, "\n".join(wrong)


def test_no_import_circles():
    graph = {m: {t for t in imports(m, p) if t in modules()} for m, p in modules().items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(t):] + [t]))
            if t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_the_check_sees_a_wrong_import(tmp_path):
    """The checks read relative imports as Python does: a module of io importing sampling is found."""
    path = tmp_path / "store.py"
    path.write_text("def f():\n    from ..sampling.run import run\n")
    assert imports("io.store", path) == {"sampling.run"}
    assert layer("sampling.run") > layer("io.store")
