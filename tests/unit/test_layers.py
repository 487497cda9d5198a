"""Nothing imports upward: each part of kernel imports only parts of its own layer or below.

Read from the source (every ``import``, also those inside functions), so a
lazy import counts as much as one at the top of a module.
"""

import ast
from pathlib import Path

import kernel

ROOT = Path(kernel.__file__).parent

# Lowest first. A part may import from its own layer and those below it.
LAYERS = [
    {"kernel", "kernel.errors", "kernel.paths", "kernel.retry", "kernel.versions", "kernel.settings",
     "kernel.proctable", "kernel.dependency", "kernel.values"},
    {"kernel.config", "kernel.furl", "kernel.tls"},
    {"kernel.wire"},
    {"kernel.controller", "kernel.engine", "kernel.client", "kernel.magic", "kernel.launchers"},
    {"kernel.cluster", "kernel.demo", "kernel.apps", "kernel.joblib"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def part(module):
    """``kernel.wire.shm`` -> ``kernel.wire``; ``kernel.config`` -> itself."""
    return ".".join(module.split(".")[:2])


def imports(path, module):
    """The kernel modules that ``path`` (the module ``module``) imports."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                above = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(above + ([node.module] if node.module else []))
            yield base


def modules():
    for path in sorted(ROOT.rglob("*.py")):
        name = ".".join(("kernel", *path.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__")
        yield path, name


def test_every_part_of_kernel_has_a_layer():
    unplaced = {part(name) for _, name in modules()} - set(RANK)
    assert not unplaced, f"put {', '.join(sorted(unplaced))} in a layer of LAYERS"


def test_nothing_imports_upward():
    upward = []
    for path, name in modules():
        for imported in imports(path, name):
            if imported.split(".")[0] == "kernel" and RANK[part(imported)] > RANK[part(name)]:
                upward.append(f"{name} imports {imported}")
    assert upward == []
