"""The package's floors: every import goes down (or sideways without a cycle), never up.

A module's floor is the first prefix below that names it. Imports are read from the source
(module level and inside functions alike), so a lazy import that climbs back up fails too.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pet_seg"
FLOORS = [
    # ground: no pet_seg import above it
    ("pet_seg.paths", "pet_seg.usage", "pet_seg.device", "pet_seg.distributed",
     "pet_seg.run_folder", "pet_seg.run_label", "pet_seg.checkpoint", "pet_seg.metrics",
     "pet_seg.precision", "pet_seg.preprocess", "pet_seg.panels", "pet_seg.augmentation",
     "pet_seg.losses", "pet_seg.models", "pet_seg.data", "pet_seg.sweep_jobs",
     "pet_seg.preflight", "pet_seg.search"),
    # a trained model run on pictures, scored, tracked
    ("pet_seg.trained_model", "pet_seg.scoring", "pet_seg.tracking", "pet_seg.calibration",
     "pet_seg.boundary", "pet_seg.extra_scores"),
    ("pet_seg.training", "pet_seg.run_log"),
    ("pet_seg.bench", "pet_seg.plan_cost", "pet_seg.sweep_progress"),
    # the report, room by room
    ("pet_seg.report.runs",),
    ("pet_seg.report.statistics",),
    # seed-adaptive sweeps: sequential statistics on the verdicts, their sweeper and ledger
    ("pet_seg.adaptive",),
    ("pet_seg.report.render",),
    ("pet_seg.report.reference",),
    ("pet_seg.report.build",),
    ("pet_seg.report.publish",),
    ("pet_seg.report.callback", "pet_seg.report.__main__"),
    # the command lines
    ("pet_seg.run", "pet_seg.evaluate", "pet_seg.predict", "pet_seg.plan"),
]  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor(module: str) -> int:
    if module in PACKAGES:  # a package's __init__ re-exports from its own floor or below
        return max((floor(i) for i in imports(MODULES[module])), default=0)
    for index, prefixes in enumerate(FLOORS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} is on no floor: add it to FLOORS in {__file__}")


def imports(path: Path) -> set[str]:
    """pet_seg modules imported anywhere in ``path`` (``from x import y`` counts x, or x.y when
    y is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("pet_seg")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pet_seg"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                as_file = PACKAGE.parent / Path(*sub.split("."))
                module = sub if as_file.with_suffix(".py").is_file() or as_file.is_dir() else None
                found.add(module or node.module)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
PACKAGES = {module_name(p) for p in PACKAGE.rglob("__init__.py")}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_never_climb_to_a_higher_floor(module):
    mine = floor(module)
    above = sorted(i for i in imports(MODULES[module]) if floor(i) > mine)
    assert not above, f"{module} (floor {mine}) imports from higher floors: {above}"


def test_no_import_cycles():
    graph = {m: {i for i in imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    visiting, done = [], set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, "import cycle: " + " → ".join([*visiting, module])
        visiting.append(module)
        for other in sorted(graph[module]):
            visit(other)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
