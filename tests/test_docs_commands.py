"""Every ``python -m pet_seg.<run|plan|evaluate|predict>`` command shown in README.md and
docs/*.md composes: Hydra builds each job's config as the command line would, and for training
the preflight check a run makes before it creates anything passes. Nothing trains or loads a
checkpoint.

A multirun is expanded the way Hydra launches it: of the basic sweeper's jobs (the experiment's
``hydra.sweeper.params`` crossed with the command's comma lists), enough are composed that every
value of every list is in one of them (composing all of an 18-job sweep costs seconds and finds
nothing more: the values' combinations are what tests/test_config.py checks); for another sweeper
(Optuna, seed-adaptive) one job, with the first value of each list. A placeholder such as
``<time>`` stands for any value. A code block preceded by ``<!-- docs-test: skip -->`` is not
composed; one preceded by ``<!-- docs-test: fails -->`` shows an error and must fail.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.types import RunMode

from pet_seg.paths import CONF_DIR
from pet_seg.preflight import check_model_input
from pet_seg.sweep_jobs import known_jobs

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# entry point → its Hydra config (conf/<name>.yaml)
ENTRY_POINTS = {
    "pet_seg.run": "config",
    "pet_seg.plan": "config",
    "pet_seg.evaluate": "evaluate",
    "pet_seg.predict": "predict",
}
MARKER = re.compile(r"<!--\s*docs-test:\s*(skip|fails)\s*-->")
FENCE = re.compile(r"^(\s*)(```|~~~)")
PROMPT = re.compile(r"^\$\s+")
PLACEHOLDER = re.compile(r"<[^<>\s]+>")  # outputs/runs/<name>/<time>: the reader fills it in


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    text: str
    expect: str  # "compose" | "fails"

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def code_blocks(text: str) -> list[tuple[int, list[str], str | None]]:
    """``(first line number, lines, marker)`` of each fenced block; marker from the line above."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        above = next((t for t in reversed(lines[:i]) if t.strip()), "")
        marker = MARKER.search(above)
        fence, body, start = opening.group(2), [], i + 2
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i].strip())
            i += 1
        blocks.append((start, body, marker.group(1) if marker else None))
        i += 1
    return blocks


def logical_lines(body: list[str]) -> list[tuple[int, str]]:
    """Shell lines with ``\\`` continuations joined and a ``$ `` prompt removed."""
    joined, current, first = [], "", 0
    for offset, line in enumerate(body):
        if not current:
            first = offset
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append((first, PROMPT.sub("", current + line)))
        current = ""
    return joined


def entry_point_args(line: str) -> tuple[str, list[str]] | None:
    """``(module, arguments)`` of a ``python -m pet_seg.<x>`` or ``torchrun ... -m`` line."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):  # WANDB_MODE=online ...
        words = words[1:]
    if not words or words[0] not in {"python", "python3", "torchrun"}:
        return None
    for i in range(len(words) - 1):
        if words[i] == "-m" and words[i + 1] in ENTRY_POINTS:
            return words[i + 1], words[i + 2 :]
    return None


def shown_commands() -> list[Command]:
    commands = []
    for page in PAGES:
        for start, body, marker in code_blocks(page.read_text()):
            if marker == "skip":
                continue
            for offset, line in logical_lines(body):
                if entry_point_args(line):
                    expect = "fails" if marker == "fails" else "compose"
                    rel = page.relative_to(ROOT).as_posix()
                    commands.append(Command(rel, start + offset, line, expect))
    return commands


def split_arguments(module: str, args: list[str]) -> tuple[list[str], bool]:
    """Hydra overrides and whether the command is a multirun (``pet_seg.plan`` always plans one)."""
    multirun = module == "pet_seg.plan" or "-m" in args or "--multirun" in args
    overrides, skip_next = [], False
    for arg in args:
        if skip_next:
            skip_next = False
        elif arg in {"-m", "--multirun"}:
            continue
        elif arg in {"--cfg", "-c", "--difference", "--seed-sd"}:
            skip_next = True  # an option with its value, not an override
        elif not arg.startswith("-"):
            overrides.append(PLACEHOLDER.sub("x", arg))
    return overrides, multirun


def first_values(overrides: list[str]) -> list[str]:
    """One job of a sweep another sweeper runs: the first value of each comma list.

    Only the task's overrides, as a sweeper hands them to its launcher: Hydra applies the
    ``hydra.*`` ones to every job itself (applying ``~hydra.x`` twice would fail).
    """
    job = []
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_hydra_override():
            continue
        if not override.is_sweep_override():
            job.append(override.input_line)
        else:
            values = list(override.sweep_string_iterator())
            job.append(f"{override.get_key_element()}={values[0]}")
    return job


def covering(jobs: list[list[str]]) -> list[list[str]]:
    """Jobs, in order, until every ``key=value`` of the sweep is in one of them."""
    missing = {item for job in jobs for item in job}
    chosen = []
    while missing:  # greedy: the job that adds the most values not yet composed
        best = max(jobs, key=lambda job: len(missing.intersection(job)))
        chosen.append(best)
        missing.difference_update(best)
    return chosen


def compose_jobs(module: str, args: list[str]) -> int:
    """Compose every job the command would run and preflight-check it; return the job count."""
    overrides, multirun = split_arguments(module, args)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        mode = RunMode.MULTIRUN if multirun else RunMode.RUN
        config = loader.load_configuration(ENTRY_POINTS[module], overrides, mode)
        if ENTRY_POINTS[module] != "config":
            return 1  # evaluate / predict: the model comes from the checkpoint, checked there
        if not multirun:
            jobs_configs = [config]
        else:
            jobs = covering(known_jobs(config) or [first_values(overrides)])
            jobs_configs = [loader.load_sweep_config(config, job) for job in jobs]
        for job_config in jobs_configs:
            check_model_input(job_config)
    return len(jobs_configs)


COMMANDS = shown_commands()


def test_the_pages_show_commands():
    assert len(COMMANDS) > 30  # the parser found them
    assert any(c.expect == "fails" for c in COMMANDS)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.expect == "compose"], ids=str)
def test_a_shown_command_composes(command: Command):
    module, args = entry_point_args(command.text)
    assert compose_jobs(module, args) >= 1, command


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.expect == "fails"], ids=str)
def test_a_shown_error_example_fails(command: Command):
    module, args = entry_point_args(command.text)
    with pytest.raises(HydraException):  # the preflight's ConfigError is one too
        compose_jobs(module, args)


def test_a_sweep_composes_every_value_of_every_list():
    """quickstart × seeds is 12 jobs (2 models × 2 schedulers × 3 seeds); 3 cover every value."""
    assert compose_jobs("pet_seg.run", ["-m", "experiment=quickstart", "trainer.seed=0,1,2"]) == 3


def test_covering_keeps_every_value():
    jobs = [[f"a={a}", f"b={b}"] for a in (1, 2, 3) for b in (1, 2)]
    chosen = covering(jobs)
    assert {i for job in chosen for i in job} == {i for job in jobs for i in job}
    assert len(chosen) == 3


def test_a_broken_override_is_caught():
    with pytest.raises(HydraException):  # Hydra's own error for an unknown option
        compose_jobs("pet_seg.run", ["-m", "model=unet,no_such_model"])
