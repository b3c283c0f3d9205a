"""``trainer.precision=auto``: bf16-mixed only on a CPU with native bf16, fp32 elsewhere, and the
choice is said in the run's first line and kept in ``summary.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from tiny import CONF, tiny_overrides

import pet_seg.precision
from pet_seg.bench.quickstart import EVAL_STEPS, TRAIN_STEPS, quickstart_variants, with_compile_cost
from pet_seg.precision import cpu_flags, resolve_precision
from pet_seg.run import run
from pet_seg.training.settings import TrainerSettings

CPU = torch.device("cpu")
ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16"})  # AMD Zen 4, Intel Cooper Lake
SAPPHIRE = frozenset({"avx2", "avx512f", "amx_tile", "amx_bf16"})  # Intel Sapphire Rapids+
AVX2 = frozenset({"avx2", "fma"})  # Zen 2/3, Skylake client: bf16 would be emulated
AVX512_ONLY = frozenset({"avx2", "avx512f", "avx512bw"})  # Skylake-SP: still emulated


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(ZEN4, "bf16-mixed"), (SAPPHIRE, "bf16-mixed"), (AVX2, "32"), (AVX512_ONLY, "32"),
     (frozenset(), "32")],
)  # fmt: skip
def test_auto_is_bf16_only_where_the_cpu_has_native_bf16(flags, expected) -> None:
    precision, why = resolve_precision("auto", CPU, flags)
    assert precision == expected and why.startswith("trainer.precision=auto")


def test_auto_reads_this_machines_flags(monkeypatch) -> None:
    monkeypatch.setattr(pet_seg.precision, "cpu_flags", lambda: AVX2)
    assert resolve_precision("auto", CPU)[0] == "32"
    monkeypatch.setattr(pet_seg.precision, "cpu_flags", lambda: ZEN4)
    assert resolve_precision("auto", CPU)[0] == "bf16-mixed"


def test_an_explicit_precision_is_kept_and_auto_is_fp32_off_the_cpu() -> None:
    assert resolve_precision("32", CPU, ZEN4)[0] == "32"  # trainer.precision=32 forces fp32
    assert resolve_precision("bf16-mixed", CPU, AVX2)[0] == "bf16-mixed"
    assert resolve_precision("auto", torch.device("cuda"), ZEN4)[0] == "32"
    assert TrainerSettings(precision="auto").precision == "auto"
    with pytest.raises(ValueError, match="auto"):
        TrainerSettings(precision="bf16")


def test_cpu_flags_is_a_set_of_names() -> None:
    flags = cpu_flags()
    assert isinstance(flags, frozenset) and all(" " not in flag for flag in flags)


def test_quickstart_bench_times_bf16_only_on_native_cpus() -> None:
    assert "bf16-mixed" in quickstart_variants(ZEN4)
    assert quickstart_variants(AVX2) == ["32", "32+cl", "32+compile"]


@pytest.mark.parametrize(("flags", "expected"), [(ZEN4, "bf16-mixed"), (AVX2, "32")])
def test_summary_and_first_line_record_the_precision_used(
    flags, expected, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(pet_seg.precision, "cpu_flags", lambda: flags)
    extra = ["logger=none", "trainer.precision=auto", "trainer.device=cpu", "trainer.epochs=1"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=[*tiny_overrides(tmp_path / "data"), *extra])
    run(cfg, tmp_path / "run", "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["precision_used"] == expected
    first = capsys.readouterr().out.splitlines()[0]
    assert f"precision {expected} (trainer.precision=auto" in first and " CPU thread" in first
    assert summary["cpu_threads"] == torch.get_num_threads() and summary["channels_last"] is False


def test_compile_cost_counts_first_calls_against_one_quickstart_run() -> None:
    def rows(base: float, compiled: float, first: float) -> dict:
        return {
            "32": {"wall_s": [base], "warmup_wall_s": [base, base]},
            "32+compile": {"wall_s": [compiled], "warmup_wall_s": [first, compiled]},
        }

    cost = with_compile_cost(rows(1.0, 0.5, 100.5), rows(0.2, 0.1, 10.1))["32+compile"]
    assert cost["compile_s"] == pytest.approx(110.0)
    assert cost["vs_baseline_steady"] == pytest.approx(2.0)
    eager, compiled = TRAIN_STEPS + 0.2 * EVAL_STEPS, 110 + 0.5 * TRAIN_STEPS + 0.1 * EVAL_STEPS
    assert cost["vs_baseline_with_compile"] == pytest.approx(eager / compiled)


@pytest.mark.parametrize(
    ("num_threads", "environ", "why"),
    [
        (3, {"OMP_NUM_THREADS": "1"}, "(trainer.num_threads=3)"),
        (None, {"OMP_NUM_THREADS": "1"}, "(OMP_NUM_THREADS=1, as hydra/launcher=parallel"),
        (None, {}, "(torch's default: one per core)"),
    ],
)
def test_the_first_line_names_the_cpu_threads_and_why(num_threads, environ, why) -> None:
    threads = torch.get_num_threads()
    said = pet_seg.precision.describe_threads(num_threads, environ)
    assert said.startswith(f"{threads} CPU thread{'' if threads == 1 else 's'} ")
    assert why in said
