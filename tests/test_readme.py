"""docs/architecture.md ("Where things live") names every module, config group and script, and
the README's Quickstart gives the two set-up commands."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def section(path: Path, title: str) -> str:
    """The text of a Markdown file's ``## title`` section, up to the next ``## `` heading."""
    match = re.search(rf"(?ms)^## {re.escape(title)}\n(.*?)(?=^## |\Z)", path.read_text())
    assert match, f'{path.name} has no "## {title}" section'
    return match.group(1)


def in_backticks(text: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", text))


def mapped_paths() -> list[str]:
    """What the map must name: modules (not ``__init__.py``), ``conf/<group>/``, scripts."""
    modules = sorted(p for p in (ROOT / "pet_seg").rglob("*.py") if p.name != "__init__.py")
    groups = sorted(p for p in (ROOT / "conf").iterdir() if p.is_dir())
    scripts = sorted(p for p in (ROOT / "scripts").iterdir() if p.is_file())
    paths = [p.relative_to(ROOT).as_posix() for p in [*modules, *scripts]]
    return paths + [p.relative_to(ROOT).as_posix() + "/" for p in groups]


def named_once(path: str) -> int:
    """How many list lines of docs/architecture.md start by naming ``path``."""
    return len(re.findall(rf"(?m)^- `{re.escape(path)}` ", ARCHITECTURE.read_text()))


def test_the_map_covers_the_tree():
    assert len(mapped_paths()) > 60  # the tree was found


@pytest.mark.parametrize("path", mapped_paths())
def test_where_things_live_names_every_module_group_and_script(path):
    assert named_once(path) == 1, (
        f"`{path}` should start exactly one line of docs/architecture.md (Where things live): "
        "add one line saying what it owns"
    )


@pytest.mark.parametrize("path", ["conf/config.yaml", "conf/evaluate.yaml", "conf/predict.yaml"])
def test_where_things_live_names_the_top_configs(path):
    assert named_once(path) == 1


@pytest.mark.parametrize("command", ["make quickstart", "make test"])
def test_quickstart_gives_the_set_up_commands(command):
    assert re.search(rf"(?m)^{re.escape(command)}\b", section(ROOT / "README.md", "Quickstart"))
