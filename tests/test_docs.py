"""The documentation site builds in strict mode (a broken link, a missing anchor or a page outside
the nav fails it), and scripts/readme_quickstart.py writes the README's quickstart block from a
sweep folder."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import readme_quickstart  # noqa: E402


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )


def test_the_site_builds_in_strict_mode(tmp_path):
    pytest.importorskip("mkdocs", reason="pip install -e '.[docs]'")
    result = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "architecture" / "index.html").exists()


def test_a_broken_link_fails_the_build(tmp_path):
    """The strict build is a real check: a copy of the docs with one bad link does not build."""
    pytest.importorskip("mkdocs", reason="pip install -e '.[docs]'")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "data.md"
    page.write_text(page.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr


def fake_sweep(folder: Path) -> Path:
    """A sweep folder as a finished quickstart leaves it: report.csv, plan.json, a sample grid."""
    report = folder / "report"
    report.mkdir(parents=True)
    columns = ["test_dice_mean", "test_dice_median", "test_dice_min", "best_val_dice"]
    with (report / "report.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "status", *columns, "train_time_s"])
        writer.writerow(["model=unet, scheduler=cosine", "finished", 0.71, 0.72, 0.2, 0.7, 100.4])
        writer.writerow(["model=unet, scheduler=onecycle", "finished", 0.75, 0.76, 0.3, 0.74, 99])
    (folder / "plan.json").write_text(json.dumps({"measured_wall_s": 784.2}))
    (report / "samples_model_unet_scheduler_onecycle.png").write_bytes(b"\x89PNG best run")
    return folder


def test_the_quickstart_block_is_written_from_the_sweep(tmp_path):
    sweep = fake_sweep(tmp_path / "sweep")
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\nbefore\n<!-- quickstart:begin -->\nold numbers\n<!-- quickstart:end -->\nafter\n"
    )
    (tmp_path / "docs").mkdir()
    readme_quickstart.main([str(sweep), "--readme", str(readme), "--machine", "a test CPU"])
    text = readme.read_text()
    assert "old numbers" not in text
    assert text.startswith("# x\n\nbefore\n") and text.endswith("after\n")
    assert "on a test CPU; the sweep took 13 min 04 s of wall time" in text
    assert "| model=unet, scheduler=cosine | 0.7100 | 0.7200 | 0.2000 | 0.7000 | 100 s |" in text
    assert "| model=unet, scheduler=onecycle | 0.7500 |" in text
    assert "![model=unet, scheduler=onecycle on the first test images" in text
    assert (tmp_path / "docs" / "quickstart.png").read_bytes() == b"\x89PNG best run"
    readme_quickstart.main([str(sweep), "--readme", str(readme), "--machine", "a test CPU"])
    assert readme.read_text() == text  # rerunning changes nothing


def test_the_readme_has_the_quickstart_block():
    text = (ROOT / "README.md").read_text()
    assert text.count(readme_quickstart.BEGIN) == 1 and text.count(readme_quickstart.END) == 1
    assert (ROOT / readme_quickstart.FIGURE).exists()


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 260
