"""The Optuna search on a database (pet_seg.search): search space, resume after a kill, two
processes sharing one study, pruning, results, and one search on a real PostgreSQL server.

End-to-end searches run `python -m pet_seg.run -m experiment=search ...` in a subprocess on
tiny real pets (tests/tiny.py), without W&B or the report.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
import yaml
from hydra import compose, initialize_config_dir
from optuna.trial import TrialState
from tiny import CONF, tiny_overrides

from pet_seg.report.runs.folder import load_run
from pet_seg.search.pruning import TrialPruned, TrialReporter, epoch_hook
from pet_seg.search.space import search_space
from pet_seg.search.storage import STUDY_ATTR, default_url, open_storage
from pet_seg.search.sweeper import consecutive, counted, quoted

REPO = Path(__file__).resolve().parents[1]
TESTS = str(Path(__file__).resolve().parent)
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "1"}
SEARCH = ["experiment=search", "logger=none", "~hydra.callbacks.report"]
PARAMS = {"optimizer.lr", "optimizer.weight_decay", "augmentation"}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("search-data")
    tiny_overrides(root)
    return root


def _command(sweep: Path, data_root: Path, *args: str, epochs: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pet_seg.run",
        "-m",
        *SEARCH,
        *tiny_overrides(data_root, epochs=epochs),
        f"hydra.sweep.dir={sweep}",
        *args,
    ]


def _search(sweep: Path, data_root: Path, *args: str, epochs: int = 1) -> str:
    result = subprocess.run(
        _command(sweep, data_root, *args, epochs=epochs),
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def _study(url: str, name: str = "search") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def _summary(job: Path) -> dict:
    return json.loads((job / "summary.json").read_text())


# ---------------------------------------------------------------------------- fast units
def test_search_space_reads_the_plugins_syntax_and_fixes_plain_overrides():
    space, fixed = search_space(
        {
            "optimizer.lr": "tag(log, interval(1e-4, 1e-2))",
            "trainer.epochs": "range(2, 9, 2)",
            "model.base_channels": "interval(4, 16)",
            "augmentation": "choice(none, flip_jitter)",
        },
        ["experiment=search", "trainer.epochs=3"],
    )
    lr = space["optimizer.lr"]
    assert (lr.low, lr.high, lr.log) == (1e-4, 1e-2, True)
    width = space["model.base_channels"]
    # Hydra reads interval() bounds as floats; use range() for ints
    assert (type(width).__name__, width.low, width.high) == ("FloatDistribution", 4.0, 16.0)
    assert space["augmentation"].choices == ("none", "flip_jitter")
    # a plain value on the command line wins over the sweep in params
    assert "trainer.epochs" not in space
    assert fixed == {"experiment": "search", "trainer.epochs": "3"}
    steps = search_space({"trainer.epochs": "range(2, 8, 2)"}, [])[0]["trainer.epochs"]
    assert (steps.low, steps.high, steps.step) == (2, 6, 2)  # range's stop is exclusive


def test_storage_urls_survive_the_override_grammar():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    url = "postgresql://me:p'w@db-host:5432/optuna?sslmode=require"
    parsed = OverridesParser.create().parse_overrides([f"+search.storage={quoted(url)}"])
    assert parsed[0].value() == url
    assert default_url("a/b").startswith("sqlite:////") and default_url("a/b").endswith(
        "/a/b/optuna.db"
    )


def test_counting_skips_queued_retried_and_surplus_trials(tmp_path):
    study = optuna.create_study(storage=default_url(tmp_path), study_name="s")
    done = study.ask()
    study.tell(done, 0.5)
    dead = study.ask()
    study.tell(dead, state=TrialState.FAIL)
    study.enqueue_trial({}, user_attrs={"retry_of": dead.number})  # waiting: not counted
    surplus = study.ask()  # takes the queued trial
    surplus.set_user_attr("surplus", True)
    study.tell(surplus, state=TrialState.FAIL)
    assert [t.number for t in counted(study.get_trials())] == [done.number]
    trials = [optuna.trial.FixedTrial({}, number=n) for n in (3, 4, 6, 7, 9)]
    assert [[t.number for t in g] for g in consecutive(trials)] == [[3, 4], [6, 7], [9]]


def test_the_search_preset_selects_our_sweeper_on_a_stable_folder():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=search"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.pet_seg_optuna.PetSegOptunaSweeper"
    assert sweeper.storage is None and sweeper.pruner._target_.endswith("MedianPruner")
    # no timestamp: rerunning the same command finds the same study
    assert cfg.hydra.sweep.dir == "outputs/multirun/search/search"
    assert set(sweeper.params) == PARAMS


def _pruning_study(tmp_path: Path, lower: float) -> tuple[str, optuna.Study]:
    """A study whose pruner (as the sweeper stores it) prunes any value below ``lower``."""
    url = default_url(tmp_path)
    study = optuna.create_study(storage=url, study_name="prune", direction="maximize")
    pruner = {"_target_": "optuna.pruners.ThresholdPruner", "lower": lower}
    study.set_user_attr(STUDY_ATTR, {"pruner": pruner})
    return url, study


def test_the_epoch_hook_reports_the_best_value_and_prunes_through_the_study(tmp_path):
    url, study = _pruning_study(tmp_path, lower=0.6)
    trial = study.ask()
    assert epoch_hook({"name": "x"}) is None  # no search key: a plain run
    hook = epoch_hook({"search": {"storage": url, "study": "prune", "trial": trial.number}})
    assert isinstance(hook, TrialReporter)
    hook({"kind": "epoch", "epoch": 1, "val/dice": 0.7})
    hook({"kind": "epoch", "epoch": 2, "val/dice": float("nan")})  # not reported
    hook({"kind": "epoch", "epoch": 3, "val/dice": 0.5})  # best so far stays 0.7: not pruned
    hook({"kind": "step", "step": 9, "val/dice": 0.1})  # step records are not epochs
    # a resumed job starts a fresh hook; its best so far falls under the threshold
    resumed = epoch_hook({"search": {"storage": url, "study": "prune", "trial": trial.number}})
    with pytest.raises(TrialPruned) as pruned:
        resumed({"kind": "epoch", "epoch": 4, "val/dice": 0.55})
    assert pruned.value.summary()["status"] == "pruned" and pruned.value.epoch == 4
    frozen = _study(url, "prune").trials[0]
    assert frozen.state == TrialState.PRUNED
    assert frozen.intermediate_values == {1: 0.7, 3: 0.7, 4: 0.55}
    assert frozen.value == 0.55  # optuna keeps a pruned trial's last reported value


@pytest.mark.slow
def test_a_pruned_run_keeps_its_folder_with_status_pruned(data_root, tmp_path):
    url, study = _pruning_study(tmp_path, lower=0.99)
    trial = study.ask()
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "pet_seg.run",
        *tiny_overrides(data_root, epochs=3),
        "logger=none",
        "~hydra.callbacks.report",
        f"hydra.run.dir={run_dir}",
        f"+search.storage={quoted(url)}",
        "+search.study=prune",
        f"+search.trial={trial.number}",
    ]
    result = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = _summary(run_dir)
    assert summary["status"] == "pruned" and summary["pruned_at_epoch"] == 1
    epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in epochs if r.get("kind") == "epoch"] == [1]
    assert not (run_dir / "test_results.csv").exists()  # a pruned trial is not tested
    assert load_run(run_dir).status == "pruned"
    assert _study(url, "prune").trials[0].state == TrialState.PRUNED


# ---------------------------------------------------------------------------- end to end
def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, "the search ended before it could be interrupted"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_rerunning_the_command_continues_the_study_and_retries_a_killed_trial(data_root, tmp_path):
    sweep = tmp_path / "search"
    fast_beat = ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=2"]
    _search(sweep, data_root, "hydra.sweeper.n_trials=2", *fast_beat, epochs=2)
    url = default_url(sweep)
    first = {t.number: (t.params, t.value) for t in _study(url).trials}
    assert len(first) == 2

    # the same command with n_trials=4, killed (SIGKILL: no cleanup) while trial 2 trains
    command = _command(sweep, data_root, "hydra.sweeper.n_trials=4", *fast_beat, epochs=2)
    process = subprocess.Popen(
        command, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for(sweep / "2" / "summary.json", process)  # written just before training
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    killed = _study(url).trials[2]
    assert killed.state == TrialState.RUNNING
    time.sleep(2.5)  # past the grace period: its heartbeat has stopped

    out = _search(sweep, data_root, "hydra.sweeper.n_trials=4", *fast_beat, epochs=2)
    trials = _study(url).trials
    states = [t.state for t in trials]
    assert states == [TrialState.COMPLETE] * 2 + [TrialState.FAIL] + [TrialState.COMPLETE] * 2
    assert {t.number: (t.params, t.value) for t in trials[:2]} == first  # kept
    retry = trials[3]
    assert retry.user_attrs["retry_of"] == 2 and retry.params == killed.params
    assert "enqueued again" in out
    # job folders are trial numbers: the killed run's folder stays, unfinished
    assert _summary(sweep / "2")["status"] == "running"
    for number in (0, 1, 3, 4):
        assert _summary(sweep / str(number))["status"] == "finished"
    config = yaml.safe_load((sweep / "3" / "config.yaml").read_text())
    assert config["search"]["trial"] == 3
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert result["trials"] == {"complete": 4, "fail": 1}
    assert set(result["best_params"]) == PARAMS
    assert result["best_value"] == pytest.approx(max(t.value for t in trials if t.value))
    assert result["command"].startswith("python -m pet_seg.run experiment=search")
    assert "optimizer.lr=" in result["command"]
    for plot in ("optimization_history", "param_importances"):
        assert (sweep / "optuna" / f"{plot}.png").stat().st_size > 0
    assert "| trial | state |" in (sweep / "search.md").read_text()


@pytest.mark.slow
def test_a_changed_command_does_not_mix_into_the_study(data_root, tmp_path):
    sweep = tmp_path / "search"
    _search(sweep, data_root, "hydra.sweeper.n_trials=1")
    result = subprocess.run(
        [*_command(sweep, data_root, "hydra.sweeper.n_trials=2"), "model=resnet34_unet"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "was started by another search" in result.stderr
    assert len(_study(default_url(sweep)).trials) == 1


@pytest.mark.slow
def test_two_processes_on_one_storage_share_the_study(data_root, tmp_path):
    sweep = tmp_path / "search"
    # each process's first trial waits for the other's (tests/job_hooks.py): both run a trial
    # however late one of them starts
    peers = [
        "+hydra.callbacks.peers._target_=job_hooks.WaitForPeers",
        "+hydra.callbacks.peers.count=2",
        f"+hydra.callbacks.peers.folder={tmp_path / 'peers'}",
    ]
    command = _command(sweep, data_root, "hydra.sweeper.n_trials=4", *peers)
    env = {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [TESTS, ENV.get("PYTHONPATH")]))}
    processes = [
        subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=900)[0] for p in processes]
    finally:
        for process in processes:
            process.kill()
    for process, out in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out[-3000:]
        assert "Launching 1 jobs" in out, "one process ran no trial"
    trials = _study(default_url(sweep)).trials
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))  # no duplicates, no gaps
    run = [t for t in trials if not t.user_attrs.get("surplus")]
    assert len(run) == 4 and all(t.state == TrialState.COMPLETE for t in run)
    for trial in run:  # each trial in its own folder, whichever process ran it
        assert _summary(sweep / str(trial.number))["status"] == "finished"
    params = [tuple(sorted(t.params.items())) for t in run]
    assert len(set(params)) == 4, "two processes drew the same parameters"


@pytest.mark.slow
def test_a_search_prunes_trials_and_records_them_as_pruned(data_root, tmp_path):
    sweep = tmp_path / "search"
    threshold = [  # prune everything from epoch 2 on: a pruner with a known outcome
        "hydra.sweeper.pruner._target_=optuna.pruners.ThresholdPruner",
        "~hydra.sweeper.pruner.n_startup_trials",
        "+hydra.sweeper.pruner.lower=0.99",
    ]
    _search(sweep, data_root, "hydra.sweeper.n_trials=2", *threshold, epochs=3)
    trials = _study(default_url(sweep)).trials
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    assert [sorted(t.intermediate_values) for t in trials] == [[1, 2]] * 2
    for number in (0, 1):
        summary = _summary(sweep / str(number))
        assert summary["status"] == "pruned" and summary["epochs"] == 2
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert result["trials"] == {"pruned": 2} and "best_params" not in result
    assert result["epochs_run"] == 4


# ---------------------------------------------------------------------------- PostgreSQL
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server on a loopback port (Debian's ``postgresql`` package),
    run as the ``postgres`` user when we are root; skipped when it cannot start."""
    pytest.importorskip("psycopg2", reason="psycopg2 not installed (pip install psycopg2-binary)")
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    initdb = str(bins[-1]) if bins else shutil.which("initdb")
    if initdb is None:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    bindir = Path(initdb).parent
    # not under pytest's tmp folder: the postgres user must reach it (pytest's is root-only)
    folder = Path(tempfile.mkdtemp(prefix="pet_seg_pg_"))
    data = folder / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        try:
            import pwd

            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*args: str) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired as err:
            return subprocess.CompletedProcess(err.cmd, 1, "", f"timed out: {err}")

    init = run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    if init.returncode != 0:
        pytest.skip(f"initdb failed: {init.stderr[-500:]}")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder}"
    # -l: the server's output to a file, or it holds our pipes open and run() never returns
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log")]
    start = run(*pg_ctl, "-o", options, "-w", "-t", "60", "start")
    if start.returncode != 0:
        pytest.skip(f"PostgreSQL did not start: {start.stderr[-500:]}{start.stdout[-500:]}")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(*pg_ctl, "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.service
def test_a_search_on_postgresql_resumes_from_the_server(data_root, tmp_path, postgres_url):
    open_storage(postgres_url)  # the server answers
    storage = [f"hydra.sweeper.storage={quoted(postgres_url)}"]
    _search(tmp_path / "a", data_root, "hydra.sweeper.n_trials=1", *storage)
    # another sweep folder, same server and study: the study continues there
    _search(tmp_path / "b", data_root, "hydra.sweeper.n_trials=2", *storage)
    trials = _study(postgres_url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert (tmp_path / "a" / "0").is_dir() and (tmp_path / "b" / "1").is_dir()
    assert not (tmp_path / "a" / "optuna.db").exists()
    result = yaml.safe_load((tmp_path / "b" / "optimization_results.yaml").read_text())
    assert result["storage"] == postgres_url and result["trials"] == {"complete": 2}
