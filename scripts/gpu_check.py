"""Is pet_seg ready for the GPU? One command that trains, sweeps, benchmarks and checks.

    python scripts/gpu_check.py [--out DIR] [--budget-s 480] [overrides ...]      # first GPU
    python scripts/gpu_check.py --device cpu --smoke                             # CPU, tiny
    python scripts/gpu_check.py --recheck DIR [--min-dice-gain 0.01]             # re-judge

A GPU may be lent for a few minutes only, so everything runs from this one command under a
time budget and leaves its numbers in ``<out>/gpu_check.json`` and ``<out>/gpu_check.md``.
pet_seg is used only as a user uses it: ``python -m pet_seg.run`` (and ``torchrun``,
``pet_seg.evaluate``, ``scripts/bench.py``) in subprocesses, judged from the run folders they
leave (summary.json, metrics.jsonl, test_results.csv), so a refactor of the package's insides
cannot break this script. Collecting (running) and judging (reading folders) are separate:
``--recheck`` judges an existing output folder again without running anything.

Exit status: 0 when every check passes, 1 when one fails. Targets (throughput, utilisation)
are printed as pass/fail but never change the exit status.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
MODELS = ("unet", "resnet34_unet")
LABEL = {"unet": "UNet", "resnet34_unet": "ResNet34-UNet"}
# The report's Table 1 runs: 50 epochs on 3312 training images, its batch, its RTX 4090 time.
FULL_TRAIN_IMAGES, FULL_EPOCHS = 3312, 50
TABLE1_BATCH = {"unet": 32, "resnet34_unet": 128}
REPORT_MINUTES = {"unet": 30, "resnet34_unet": 16}
# Targets on one H100/H200-class GPU (bf16-mixed + channels_last, 256 px): printed, not checks.
TARGET_IMAGES_PER_S = {"unet": 1000, "resnet34_unet": 2500}
TARGET_UTILISATION = 90.0
PRECISIONS = ("32", "bf16-mixed", "16-mixed")
EPOCH_RECORD = re.compile(r'"kind":\s*"epoch"')  # a line of metrics.jsonl per epoch
PEAK_TOLERANCE = 0.10  # a sweep job's peak CUDA memory vs the first job's


@dataclass
class Profile:
    """Sizes of one check: the GPU's (256 px, full-width models) or the CPU smoke's (tiny)."""

    device: str
    smoke: bool
    image_size: int
    epochs: int
    batch_size: int
    precisions: tuple[str, ...]
    channels_last: tuple[str, ...]  # swept in the grid: "false", "true"
    bench_variants: tuple[str, ...]
    compile: bool
    sweep_jobs: int
    util_epochs: int
    bench_steps: int
    extra: list[str] = field(default_factory=list)  # overrides for every training run
    bench_extra: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def profile_for(args: argparse.Namespace) -> Profile:
    """The GPU profile, or the tiny CPU one that `--smoke` asks for (minutes → seconds)."""
    if args.smoke:
        # One CPU thread per process: on a small shared CPU more threads mostly contend.
        # channels_last is covered by the sweep (bf16-mixed + channels_last), not the grid.
        return Profile(
            device=args.device, smoke=True, image_size=64, epochs=args.epochs or 2,
            batch_size=args.batch_size or 8, precisions=("32", "bf16-mixed"),
            channels_last=("false",), bench_variants=("32", "bf16-mixed+cl"), compile=False,
            sweep_jobs=2, util_epochs=0, bench_steps=1,
            extra=["model.base_channels=4", "trainer.num_threads=1"],
            bench_extra=["--base-channels", "4", "--batch-size", "4", "--threads", "1"],
            env={"OMP_NUM_THREADS": "1"},
        )  # fmt: skip
    return Profile(
        device=args.device, smoke=False, image_size=args.image_size, epochs=args.epochs or 3,
        batch_size=args.batch_size or 16, precisions=PRECISIONS, channels_last=("false", "true"),
        bench_variants=tuple(f"{prec}{cl}" for prec in PRECISIONS for cl in ("", "+cl")),
        compile=True, sweep_jobs=4, util_epochs=args.util_epochs, bench_steps=10,
    )  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (first visible GPU) | cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, fp32 + bf16 only")
    parser.add_argument("--out", type=Path, default=None, help="default outputs/gpu_check/<time>")
    parser.add_argument("--budget-s", type=float, default=480.0, help="wall-clock budget")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=None, help="default 3 (smoke: 2)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 16 (smoke: 8)")
    parser.add_argument("--util-epochs", type=int, default=15, help="epochs of the util run")
    parser.add_argument("--ddp-procs", type=int, default=None, help="default: #GPUs if > 1")
    parser.add_argument(
        "--min-dice-gain", type=float, default=0.0,
        help="a run learns when last-epoch val Dice - first-epoch val Dice > this",
    )  # fmt: skip
    parser.add_argument("--ddp-tolerance", type=float, default=0.05, help="test Dice mean")
    parser.add_argument("--recheck", type=Path, default=None, help="judge this folder again")
    parser.add_argument("--dry-run", action="store_true", help="print the commands; run none")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every training run")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------ collecting


class Runner:
    """Runs the sub-commands one after another inside one deadline, logging each to steps.json."""

    def __init__(self, out: Path, budget_s: float, env: dict[str, str], dry: bool = False) -> None:
        self.out, self.deadline, self.dry = out, time.monotonic() + budget_s, dry
        # this checkout's pet_seg and scripts, whatever the environment has installed
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": path, **env}
        self.steps: list[dict[str, Any]] = []
        (out / "logs").mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str, command: list[str]) -> int:
        """Run ``command``; rc 124 when the budget ran out, -1 when it was already spent."""
        left = self.deadline - time.monotonic()
        step: dict[str, Any] = {"name": name, "command": command}
        if left < 5:
            step |= {"rc": -1, "wall_s": 0.0, "note": "skipped: time budget spent"}
            return self._log(step)
        print(f"[gpu_check] {name}: {' '.join(command)}", file=sys.stderr, flush=True)
        if self.dry:
            return 0
        started = time.monotonic()
        with open(self.out / "logs" / f"{name}.log", "w") as log:
            try:
                rc = subprocess.run(
                    command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=left,
                    env=self.env,
                ).returncode  # fmt: skip
                note = ""
            except subprocess.TimeoutExpired:
                rc, note = 124, f"killed: time budget ran out after {left:.0f} s"
        step |= {"rc": rc, "wall_s": round(time.monotonic() - started, 1), "note": note}
        return self._log(step)

    def _log(self, step: dict[str, Any]) -> int:
        self.steps.append(step)
        (self.out / "steps.json").write_text(json.dumps(self.steps, indent=2) + "\n")
        print(f"[gpu_check]   rc={step['rc']} {step['wall_s']} s {step['note']}", file=sys.stderr)
        return step["rc"]


def device_info(device: str) -> dict[str, Any]:
    """Device name, driver, CUDA/cuDNN/torch versions, GPU count: in a child, so this process
    never holds a CUDA context that would sit in every job's memory readings."""
    code = (
        "import json, platform, torch\n"
        "cuda = torch.cuda.is_available()\n"
        "print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda,\n"
        " 'cudnn': torch.backends.cudnn.version() if cuda else None,\n"
        " 'gpu_count': torch.cuda.device_count() if cuda else 0,\n"
        " 'device_name': torch.cuda.get_device_name(0) if cuda else platform.processor(),\n"
        " 'cpu_count': __import__('os').cpu_count(), 'python': platform.python_version()}))\n"
    )
    child = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    if child.returncode:
        return {"requested_device": device, "gpu_count": 0, "error": child.stderr[-500:]}
    info = json.loads(child.stdout)
    info["requested_device"] = device
    if not info["gpu_count"]:
        info["device_name"] = cpu_name()
    if device.startswith("cuda") and shutil.which("nvidia-smi"):
        query = [
            "nvidia-smi",
            "--query-gpu=name,driver_version,memory.total",
            "--format=csv,noheader",
        ]
        rows = subprocess.run(query, capture_output=True, text=True).stdout.strip().splitlines()
        info["nvidia_smi"] = rows
        if rows:
            info["driver"] = rows[0].split(",")[1].strip()
    return info


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            names = [
                line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")
            ]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or platform.machine()


def train_command(p: Profile, model: str, *overrides: str, multirun: bool = False) -> list[str]:
    """``python -m pet_seg.run`` at the profile's size, quiet, offline, without its report."""
    return [
        PY, "-m", "pet_seg.run", *(["-m"] if multirun else []),
        f"model={model}", "data=oxford_pet_mini", f"data.image_size={p.image_size}",
        f"trainer.device={p.device}", f"trainer.epochs={p.epochs}",
        f"trainer.batch_size={p.batch_size}", f"trainer.save_last_every={p.epochs}",
        "trainer.progress=false", "logger=none",
        "~hydra.callbacks.report", *p.extra, *overrides,
    ]  # fmt: skip


def fast_variant(p: Profile) -> list[str]:
    """The variant a GPU run should use: bf16 autocast on channels_last tensors."""
    return ["trainer.precision=bf16-mixed", "trainer.channels_last=true"]


def run_grid(run: Runner, p: Profile, out: Path, user: list[str]) -> None:
    """Each model × precision × memory format, as one in-process sweep (one start-up)."""
    run("grid", train_command(
        p, ",".join(MODELS), f"trainer.precision={','.join(p.precisions)}",
        f"trainer.channels_last={','.join(p.channels_last)}", *user,
        f"hydra.sweep.dir={out / 'runs' / 'grid'}", multirun=True,
    ))  # fmt: skip


def run_sweep(run: Runner, p: Profile, out: Path, user: list[str]) -> None:
    """A sequential same-config sweep in one process: each job's peak memory must be its own."""
    seeds = ",".join(str(seed) for seed in range(p.sweep_jobs))
    run("sweep", train_command(
        p, "unet", *fast_variant(p), f"trainer.seed={seeds}", *user,
        f"hydra.sweep.dir={out / 'runs' / 'sweep'}", multirun=True,
    ))  # fmt: skip


def run_compile(run: Runner, p: Profile, out: Path, user: list[str]) -> None:
    if p.compile:
        run("compile", train_command(
            p, "unet", *fast_variant(p), "trainer.compile=true", *user,
            f"hydra.run.dir={out / 'runs' / 'compile'}",
        ))  # fmt: skip


def run_bench(run: Runner, p: Profile, out: Path) -> None:
    """Steady-state training steps (scripts/bench.py): on the GPU at each model's Table 1 batch,
    in the smoke both models in one call at its tiny batch."""
    calls = {"bench": list(MODELS)} if p.bench_extra else {f"bench_{m}": [m] for m in MODELS}
    for name, models in calls.items():
        sizes = p.bench_extra or ["--batch-size", str(TABLE1_BATCH[models[0]])]
        run(name, [
            PY, "scripts/bench.py", "--sections", "train", "--models", ",".join(models),
            "--device", p.device, "--image-size", str(p.image_size),
            "--variants", ",".join(p.bench_variants), "--steps", str(p.bench_steps),
            "--warmup", str(min(3, p.bench_steps)), *sizes, "--json", str(out / f"{name}.json"),
        ])  # fmt: skip


class UtilisationMonitor:
    """``nvidia-smi -lms 200`` in the background, each sample stamped with the time it arrived."""

    def __init__(self) -> None:
        first = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or "0"
        query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", f"--id={first}",
                 "--format=csv,noheader,nounits", "-lms", "200"]  # fmt: skip
        self.proc = subprocess.Popen(query, stdout=subprocess.PIPE, text=True)
        self.samples: list[tuple[float, float, float]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout or []:
            try:
                util, mem = (float(x) for x in line.split(","))
            except ValueError:
                continue
            self.samples.append((time.monotonic(), util, mem))

    def stop(self) -> list[tuple[float, float, float]]:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=5)
        return self.samples


def epoch_times(metrics: Path, stop: threading.Event, into: list[float]) -> None:
    """When each epoch record appears in metrics.jsonl: the bounds of the epochs that follow."""
    seen = 0
    while not stop.is_set():
        if metrics.is_file():
            count = len(EPOCH_RECORD.findall(metrics.read_text()))
            into.extend([time.monotonic()] * (count - seen))
            seen = max(seen, count)
        time.sleep(0.05)


def run_utilisation(run: Runner, p: Profile, out: Path, user: list[str]) -> None:
    """UNet bf16 + channels_last for many epochs while nvidia-smi samples the GPU.

    The window is from the first epoch record to the last one in metrics.jsonl, so start-up,
    the data cache, the first epoch (cuDNN autotuning) and the test pass are left out; the
    epochs in it still include validation and best.pt writes. Saved to util.json.
    """
    run_dir = out / "runs" / "util"
    command = train_command(
        dataclasses.replace(p, epochs=p.util_epochs), "unet", *fast_variant(p), *user,
        f"hydra.run.dir={run_dir}",
    )  # fmt: skip
    if p.device == "cpu" or not p.util_epochs or run.dry or not shutil.which("nvidia-smi"):
        if run.dry and p.util_epochs:
            run("util", command)
        return
    monitor, stop, marks = UtilisationMonitor(), threading.Event(), list[float]()
    watcher = threading.Thread(target=epoch_times, args=(run_dir / "metrics.jsonl", stop, marks))
    watcher.start()
    run("util", command)
    stop.set()
    watcher.join()
    samples = monitor.stop()
    window = [s for s in samples if marks and marks[0] <= s[0] <= marks[-1]]
    (out / "util.json").write_text(json.dumps({
        "method": "nvidia-smi --query-gpu=utilization.gpu,memory.used -lms 200, samples between "
                  "the first and the last epoch record of metrics.jsonl (epochs 2..N)",
        "window_s": round(marks[-1] - marks[0], 2) if len(marks) > 1 else 0.0,
        "window": [u for _, u, _ in window], "all_samples": len(samples),
    }, indent=1) + "\n")  # fmt: skip


def run_ddp(run: Runner, p: Profile, out: Path, user: list[str], procs: int) -> None:
    """torchrun on ``procs`` devices vs one process, plus a one-process re-score of DDP's best.pt.

    No augmentation: per-sample random draws are per rank, so they cannot match one process.
    fp32, so the re-score (which may not autocast as training did) compares like with like.
    """
    if procs < 2:
        return
    common = ["trainer.precision=32", "augmentation=none", *user]
    run("ddp_single", train_command(p, "unet", *common, f"hydra.run.dir={out / 'runs' / 'single'}"))
    torchrun = [PY, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
    # trainer.device=auto: each rank takes cuda:LOCAL_RANK (a plain "cuda" is cuda:0 for all)
    per_rank = dataclasses.replace(p, device="auto" if p.device.startswith("cuda") else p.device)
    command = train_command(per_rank, "unet", *common, f"hydra.run.dir={out / 'runs' / 'ddp'}")
    run("ddp", [*torchrun, *command[1:]])
    best = out / "runs" / "ddp" / "checkpoints" / "best.pt"
    run(
        "ddp_rescore",
        [
            PY,
            "-m",
            "pet_seg.evaluate",
            f"ckpt={best}",
            f"output={out / 'runs' / 'ddp_rescore'}",
            f"device={p.device}",
            "panels=0",
            "progress=false",
        ],
    )


def collect(args: argparse.Namespace, out: Path) -> None:
    """Every sub-run, most important first, so a budget that runs out loses the least."""
    p = profile_for(args)
    info = device_info(p.device)
    procs = args.ddp_procs if args.ddp_procs is not None else info["gpu_count"]
    plan = {"profile": asdict(p), "ddp_procs": procs if procs > 1 else 0,
            "overrides": args.overrides, "budget_s": args.budget_s}  # fmt: skip
    (out / "device.json").write_text(json.dumps(info, indent=2) + "\n")
    (out / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
    if p.device.startswith("cuda") and not info["gpu_count"] and not args.dry_run:
        print("[gpu_check] no CUDA device visible; use --device cpu --smoke", file=sys.stderr)
        return
    run = Runner(out, args.budget_s, p.env, dry=args.dry_run)
    run_grid(run, p, out, args.overrides)
    run_sweep(run, p, out, args.overrides)
    run_bench(run, p, out)
    run_utilisation(run, p, out, args.overrides)
    run_ddp(run, p, out, args.overrides, procs)
    run_compile(run, p, out, args.overrides)


# ------------------------------------------------------------------------------ judging


@dataclass
class Check:
    """One verdict. ``passed`` None = not applicable here; targets never fail the script."""

    name: str
    passed: bool | None
    value: str
    detail: str = ""
    kind: str = "check"


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """One record per line; a line cut short by a killed run is left out."""
    records = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def read_run(run_dir: Path) -> dict[str, Any]:
    """What a run folder says: its settings, status, val Dice per epoch, speed, peak memory."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) if (
        run_dir / "config.yaml").is_file() else {}  # fmt: skip
    trainer = config.get("trainer", {})
    epochs = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("kind") == "epoch"]
    later = epochs[1:] or epochs  # the first epoch carries cuDNN autotuning and compilation
    summary = read_json(run_dir / "summary.json")
    return {
        "dir": str(run_dir),
        "model": str(config.get("model", {}).get("_target_", "?")).rsplit(".", 1)[-1],
        "precision": str(trainer.get("precision", "?")),
        "channels_last": bool(trainer.get("channels_last", False)),
        "compile": bool(trainer.get("compile", False)),
        "seed": trainer.get("seed"),
        "status": summary.get("status", "missing"),
        "error": summary.get("error", ""),
        "val_dice": [r.get("val/dice") for r in epochs],
        "train_loss": [r.get("train/loss") for r in epochs],
        "epoch_images_per_s": max((r.get("time/train_images_per_s", 0) for r in later), default=0),
        "train_images_per_s": summary.get("train_images_per_s"),
        "peak_cuda_bytes": summary.get("peak_cuda_bytes"),
        "test_dice_mean": summary.get("test/dice_mean"),
    }


def job_dirs(sweep: Path) -> list[Path]:
    """A sweep's job folders in job order."""
    if not sweep.is_dir():
        return []
    return sorted((d for d in sweep.iterdir() if d.name.isdigit()), key=lambda d: int(d.name))


def run_label(r: dict[str, Any]) -> str:
    flags = [r["precision"], *(["cl"] if r["channels_last"] else []),
             *(["compile"] if r["compile"] else [])]  # fmt: skip
    return f"{r['model']} {'+'.join(flags)}"


def check_run(name: str, r: dict[str, Any], min_gain: float) -> list[Check]:
    """Finished (trainer.nonfinite=stop fails a run on a NaN/inf loss), every epoch's training
    loss finite (in case a run was told to skip such steps), and learning."""
    losses = [x for x in r["train_loss"] if x is not None]
    finite = bool(losses) and all(math.isfinite(x) for x in losses)
    finished = r["status"] == "finished" and finite
    status = r["status"] if finite else f"{r['status']}, train loss {losses}"
    dice = [d for d in r["val_dice"] if d is not None]
    gain = dice[-1] - dice[0] if len(dice) > 1 else float("nan")
    curve = " → ".join(f"{d:.3f}" for d in dice) or "no epochs"
    return [
        Check(f"{name}: finished, finite loss", finished, status, r["error"][:200]),
        Check(f"{name}: learns (val Dice gain > {min_gain})", len(dice) > 1 and gain > min_gain,
              f"{gain:+.3f}", curve),
    ]  # fmt: skip


def step_checks(steps: list[dict[str, Any]], out: Path) -> list[Check]:
    """Every sub-command ran within the budget and exited 0 (a sweep exits 1 if a job failed)."""
    return [Check(f"{s['name']}: exit 0 within the budget", s["rc"] == 0,
                  f"rc {s['rc']}, {s['wall_s']} s", s.get("note") or log_tail(out, s["name"]))
            for s in steps]  # fmt: skip


def log_tail(out: Path, name: str) -> str:
    """The last line of a sub-command's log that names an error, for the table."""
    log = out / "logs" / f"{name}.log"
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or [""])[-1][:200].replace("|", "/")


def grid_checks(out: Path, p: dict[str, Any], min_gain: float) -> tuple[list[Check], list[dict]]:
    """Every model × precision × memory format ran, finished and learned; so did torch.compile."""
    runs = [read_run(d) for d in job_dirs(out / "runs" / "grid")]
    expected = len(MODELS) * len(p["precisions"]) * len(p["channels_last"])
    checks = [Check(f"grid: all {expected} jobs (models × precisions × channels_last)",
                    len(runs) == expected, str(len(runs)))]  # fmt: skip
    for r in runs:
        checks += check_run(run_label(r), r, min_gain)
    compiled = out / "runs" / "compile"
    if p["compile"]:
        r = read_run(compiled)
        runs.append(r)
        checks += check_run(f"compile {run_label(r)}", r, min_gain)
    return checks, runs


def sweep_checks(out: Path, p: dict[str, Any], min_gain: float) -> tuple[list[Check], list[dict]]:
    """Each job learns; on CUDA each job's peak is within 10 % of the first job's, so peaks are
    reset per job and nothing the previous job built stays allocated (it would add to them)."""
    jobs = [read_run(d) for d in job_dirs(out / "runs" / "sweep")]
    checks = [Check(f"sweep: all {p['sweep_jobs']} jobs in one process",
                    len(jobs) == p["sweep_jobs"], str(len(jobs)))]  # fmt: skip
    for r in jobs:
        checks += check_run(f"sweep seed {r['seed']}", r, min_gain)
    peaks = [r["peak_cuda_bytes"] for r in jobs]
    if not str(p["device"]).startswith("cuda"):
        checks.append(Check("sweep: peak_cuda_bytes per job", None, "n/a on CPU"))
    elif len(peaks) < 2 or None in peaks:
        checks.append(Check("sweep: peak_cuda_bytes per job", False, str(peaks),
                            "summary.json lacks peak_cuda_bytes"))  # fmt: skip
    else:
        ratios = [peak / peaks[0] for peak in peaks]
        checks.append(
            Check(
                "sweep: 2nd job's peak within 10 % of the 1st's",
                abs(ratios[1] - 1) <= PEAK_TOLERANCE,
                f"×{ratios[1]:.3f}",
            )
        )
        checks.append(Check("sweep: memory released (no job's peak grows > 10 %)",
                            max(ratios) <= 1 + PEAK_TOLERANCE,
                            " ".join(f"×{x:.3f}" for x in ratios),
                            " ".join(f"{peak / 2**20:.0f} MiB" for peak in peaks)))  # fmt: skip
    return checks, jobs


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open() as handle:
        return list(csv.DictReader(handle))


def ddp_checks(out: Path, procs: int, tolerance: float) -> list[Check]:
    """Sharded test scores gathered over ranks: the same images as one process, each image's
    score what one process gives DDP's best.pt, and a test Dice mean close to a 1-GPU run's."""
    name = f"DDP ({procs} processes)"
    if procs < 2:
        return [Check(name, None, "n/a: one device")]
    single = read_csv(out / "runs" / "single" / "test_results.csv")
    ddp = read_csv(out / "runs" / "ddp" / "test_results.csv")
    rescored = read_csv(out / "runs" / "ddp_rescore" / "per_image.csv")
    summary = read_run(out / "runs" / "ddp")
    names = [row["name"] for row in ddp]
    diffs = [abs(float(a["dice"]) - float(b["dice"])) for a, b in zip(ddp, rescored, strict=False)]
    mean = {k: statistics.fmean(float(r["dice"]) for r in rows) if rows else float("nan")
            for k, rows in (("single", single), ("ddp", ddp))}  # fmt: skip
    gap = abs(mean["ddp"] - mean["single"])
    return [
        Check(f"{name}: finished", summary["status"] == "finished", summary["status"]),
        Check(f"{name}: test images = one process's, once each",
              bool(names) and names == [row["name"] for row in single], f"{len(names)} images"),
        Check(f"{name}: per-image Dice = 1-process re-score of its best.pt (1e-3)",
              bool(diffs) and len(diffs) == len(ddp) and max(diffs) <= 1e-3,
              f"max abs diff {max(diffs, default=float('nan')):.2e}"),
        Check(f"{name}: test Dice mean within {tolerance} of 1 GPU", gap <= tolerance,
              f"{mean['ddp']:.4f} vs {mean['single']:.4f}"),
    ]  # fmt: skip


def throughput(out: Path, p: dict[str, Any]) -> list[dict[str, Any]]:
    """Bench images/s per model and variant, and the report's 50-epoch run projected from it."""
    rows = []
    benches = [read_json(path) for path in sorted(out.glob("bench*.json"))]
    for bench, model in ((b, m) for b in benches for m in MODELS if m in b.get("train", {})):
        result = bench["train"][model]
        batch = bench.get("settings", {}).get("batch_size")
        for variant, row in result.get("variants", {}).items():
            ips = row["images_per_s"]
            rows.append({
                "model": model, "variant": variant, "batch": batch,
                "image_size": p["image_size"], "images_per_s": round(ips, 1),
                "projected_min": None if p["smoke"] else round(
                    FULL_EPOCHS * FULL_TRAIN_IMAGES / ips / 60, 1),
                "report_min": REPORT_MINUTES[model],
            })  # fmt: skip
    return rows


def target_checks(rows: list[dict], util: dict[str, Any], device: str) -> list[Check]:
    """The H100/H200-class targets; measured on any GPU, judged against those numbers."""
    checks = []
    for model in MODELS:
        ips = next((r["images_per_s"] for r in rows
                    if r["model"] == model and r["variant"] == "bf16-mixed+cl"), None)  # fmt: skip
        name = f"{LABEL[model]} bf16-mixed+cl ≥ {TARGET_IMAGES_PER_S[model]} img/s"
        if device == "cpu" or ips is None:
            checks.append(Check(name, None, "n/a" if ips is None else f"{ips:.1f} (CPU)",
                                kind="target"))  # fmt: skip
        else:
            checks.append(Check(name, ips >= TARGET_IMAGES_PER_S[model], f"{ips:.1f}",
                                kind="target"))  # fmt: skip
    window = util.get("window", [])
    name = f"GPU utilisation > {TARGET_UTILISATION:.0f} % during epochs"
    if not window:
        checks.append(Check(name, None, "n/a (no GPU samples)", kind="target"))
    else:
        mean = statistics.fmean(window)
        checks.append(Check(name, mean > TARGET_UTILISATION, f"{mean:.1f} % mean",
                            f"median {statistics.median(window):.0f} %, {len(window)} samples "
                            f"over {util['window_s']} s", kind="target"))  # fmt: skip
    return checks


def judge(out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Everything the output folder shows, as checks and figures; runs nothing."""
    plan = read_json(out / "plan.json")
    p = plan["profile"]
    steps_file = out / "steps.json"
    steps = json.loads(steps_file.read_text()) if steps_file.is_file() else []
    grid, runs = grid_checks(out, p, args.min_dice_gain)
    sweep, jobs = sweep_checks(out, p, args.min_dice_gain)
    ddp = ddp_checks(out, plan["ddp_procs"], args.ddp_tolerance)
    rows = throughput(out, p)
    util = read_json(out / "util.json")
    if p["util_epochs"] and str(p["device"]).startswith("cuda"):
        util_run = read_run(out / "runs" / "util")
        grid += check_run(f"util {run_label(util_run)}", util_run, args.min_dice_gain)
    bench = [
        Check(
            f"bench {m}: images/s measured",
            any(r["model"] == m for r in rows),
            str(sum(r["model"] == m for r in rows)) + " variants",
        )
        for m in MODELS
    ]
    device = read_json(out / "device.json")
    visible = Check("device: a CUDA GPU is visible", bool(device.get("gpu_count")),
                    str(device.get("device_name", "none")), device.get("error", ""))  # fmt: skip
    if not str(p["device"]).startswith("cuda"):
        visible = Check("device: a CUDA GPU is visible", None, f"n/a: --device {p['device']}")
    checks = [visible, *step_checks(steps, out), *grid, *sweep, *ddp, *bench,
              *target_checks(rows, util, str(p["device"]))]  # fmt: skip
    failed = [c.name for c in checks if c.kind == "check" and c.passed is False]
    return {
        "passed": not failed, "failed": failed, "device": read_json(out / "device.json"),
        "plan": plan, "thresholds": {"min_dice_gain": args.min_dice_gain,
                                     "ddp_tolerance": args.ddp_tolerance,
                                     "peak_tolerance": PEAK_TOLERANCE},
        "checks": [asdict(c) for c in checks], "runs": runs, "sweep": jobs,
        "throughput": rows, "utilisation": {k: v for k, v in util.items() if k != "window"} | (
            {"mean": statistics.fmean(util["window"]), "samples": len(util["window"])}
            if util.get("window") else {}),
        "steps": steps,
    }  # fmt: skip


# ------------------------------------------------------------------------------ rendering


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a"}[passed]


def cell(text: str) -> str:
    """Text that cannot break a markdown table row (errors carry pipes and newlines)."""
    return str(text).replace("|", "/").replace("\n", " ")


def fmt(value: Any, spec: str = ".1f") -> str:
    return "—" if value is None else format(value, spec)


def render(result: dict[str, Any]) -> str:
    """gpu_check.md: device, verdicts, then every figure in tables."""
    d, p = result["device"], result["plan"]["profile"]
    lines = [
        f"# GPU check: {'PASS' if result['passed'] else 'FAIL'}", "",
        f"- device: **{d.get('device_name')}** ({p['device']}, {d.get('gpu_count', 0)} GPU(s))",
        f"- driver {d.get('driver', '—')} · CUDA {d.get('cuda') or '—'} · cuDNN "
        f"{d.get('cudnn') or '—'} · torch {d.get('torch')} · Python {d.get('python')}",
        f"- sizes: {p['image_size']} px, {p['epochs']} epochs, batch {p['batch_size']}, "
        f"precisions {', '.join(p['precisions'])}, data=oxford_pet_mini (270/30/298)"
        + (f", extra {' '.join(p['extra'])}" if p["extra"] else ""),
        f"- wall time: {sum(s['wall_s'] for s in result['steps']):.0f} s of sub-runs",
        "", "## Checks (a FAIL exits non-zero)", "", "| check | verdict | value | detail |",
        "|---|---|---|---|",
    ]  # fmt: skip
    for kind in ("check", "target"):
        if kind == "target":
            lines += ["", "## Targets (printed, never fail the script)", "",
                      "| target | verdict | value | detail |", "|---|---|---|---|"]  # fmt: skip
        rows = [c for c in result["checks"] if c["kind"] == kind]
        lines += [f"| {c['name']} | {verdict(c['passed'])} | {cell(c['value'])} | "
                  f"{cell(c['detail'])} |" for c in rows]  # fmt: skip
    lines += ["", "## Training runs", "",
              "| run | status | val Dice by epoch | epoch img/s | peak CUDA MiB | test Dice |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for r in [*result["runs"], *result["sweep"]]:
        dice = " → ".join(f"{x:.3f}" for x in r["val_dice"] if x is not None)
        peak = r["peak_cuda_bytes"] / 2**20 if r["peak_cuda_bytes"] else None
        seed = f" seed {r['seed']}" if r in result["sweep"] else ""
        lines.append(f"| {run_label(r)}{seed} | {r['status']} | {dice} | "
                     f"{fmt(r['epoch_images_per_s'])} | {fmt(peak, '.0f')} | "
                     f"{fmt(r['test_dice_mean'], '.3f')} |")  # fmt: skip
    lines += ["", "## Training throughput and the report's 50-epoch runs projected", "",
              f"`scripts/bench.py` steady-state steps (model + loss + backward + optimizer on "
              f"an in-memory batch), projected to 50 epochs × {FULL_TRAIN_IMAGES} images "
              f"(training only; validation and test not included).", "",
              "| model | variant | batch | px | img/s | projected 50 epochs (min) | report, "
              "RTX 4090 (min) |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {LABEL[r['model']]} | {r['variant']} | {r['batch']} | {r['image_size']} | "
              f"{r['images_per_s']} | {fmt(r['projected_min'])} | {r['report_min']} |"
              for r in result["throughput"]]  # fmt: skip
    util = result["utilisation"]
    lines += ["", "## How GPU utilisation is measured", "",
              util.get("method", "not measured (no GPU / nvidia-smi)") + ". "
              "nvidia-smi's utilization.gpu is the share of time a kernel was running on the "
              "GPU, not how busy its cores were.", ""]  # fmt: skip
    lines += ["## Sub-runs", "", "| step | rc | seconds | note |", "|---|---|---|---|"]
    lines += [f"| {s['name']} | {s['rc']} | {s['wall_s']} | {s.get('note', '')} |"
              for s in result["steps"]]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.recheck:
        out = args.recheck
    else:
        stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        out = (args.out or REPO / "outputs" / "gpu_check" / stamp).resolve()
        out.mkdir(parents=True, exist_ok=True)
        collect(args, out)
        if args.dry_run:
            return 0
    result = judge(out, args)
    (out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")
    text = render(result)
    (out / "gpu_check.md").write_text(text)
    print(text)
    print(f"[gpu_check] {'PASS' if result['passed'] else 'FAIL'}: {out / 'gpu_check.md'}",
          file=sys.stderr)  # fmt: skip
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
