"""Every option of every config group composes with the real conf/ and builds its object."""

import itertools
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pet_seg.augmentation import BatchAugment
from pet_seg.training.schedule import SchedulerSpec
from pet_seg.training.settings import TrainerSettings

CONF = Path(__file__).resolve().parents[1] / "conf"
GROUPS = [
    "data",
    "model",
    "loss",
    "optimizer",
    "scheduler",
    "augmentation",
    "logger",
    "trainer",
    "experiment",
]


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=False)


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_group_exists_with_options():
    for group in GROUPS:
        assert _options(group), f"conf/{group}/ has no options"


# The report's recipe, field by field: its "Hyperparameters" section and training commands.
REPORT_BATCH = {"pet_seg.models.UNet": 32, "pet_seg.models.ResNet34UNet": 128}
AUGMENT_ON = {"hflip": 0.5, "vflip": 0.5, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2}
AUGMENT_OFF = dict.fromkeys(AUGMENT_ON, 0.0)
ONECYCLE = {
    "interval": "step",
    "factory": {"_target_": "torch.optim.lr_scheduler.OneCycleLR", "_partial_": True,
                "max_lr": 1e-3, "pct_start": 0.1, "anneal_strategy": "cos"},
}  # fmt: skip
COSINE = {
    "interval": "epoch",
    "factory": {"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR", "_partial_": True,
                "T_max": 50},
}  # fmt: skip


def assert_report_recipe(cfg, scheduler: dict, augment: dict) -> None:
    """Everything the report fixes, resolved as a run would see it."""
    assert cfg.model.base_channels == {"pet_seg.models.UNet": 64}.get(cfg.model._target_, 32)
    assert cfg.trainer.batch_size == REPORT_BATCH[cfg.model._target_]
    assert cfg.optimizer._target_ == "torch.optim.AdamW"
    assert (cfg.optimizer.lr, cfg.optimizer.weight_decay) == (1e-3, 1e-2)
    assert (cfg.trainer.epochs, cfg.data.image_size) == (50, 256)
    resolved = OmegaConf.to_container(cfg.scheduler, resolve=True)
    assert {key: resolved[key] for key in scheduler} == scheduler
    assert {key: cfg.augmentation[key] for key in augment} == augment


@pytest.mark.parametrize("model", ["unet", "resnet34_unet"])
def test_defaults_are_the_reports_final_recipe(model):
    assert_report_recipe(_compose(f"model={model}"), ONECYCLE, AUGMENT_ON)


def _sweep_jobs(experiment: str) -> list[list[str]]:
    """The override list of every job the experiment's sweep launches."""
    params = _with_hydra(f"experiment={experiment}").hydra.sweeper.params
    axes = [
        [f"{key}={value}" for value in str(values).split(",")] for key, values in params.items()
    ]
    return [[f"experiment={experiment}", *job] for job in itertools.product(*axes)]


@pytest.mark.parametrize(
    ("experiment", "expected"),
    [  # (scheduler, augmentation) per job, keyed by its swept values
        ("architecture", lambda job: (ONECYCLE, AUGMENT_ON)),
        ("augmentation_ablation",
         lambda job: (COSINE, AUGMENT_ON if "augmentation=flip_jitter" in job else AUGMENT_OFF)),
        ("scheduler_ablation",
         lambda job: (ONECYCLE if "scheduler=onecycle" in job else COSINE, AUGMENT_ON)),
    ],
)  # fmt: skip
def test_report_experiments_resolve_to_the_reports_recipe(experiment, expected):
    jobs = _sweep_jobs(experiment)
    assert len(jobs) in (2, 4)
    for job in jobs:
        assert_report_recipe(_compose(*job), *expected(job))


# How each model option is shrunk for a fast forward pass; the pretrained one has torchvision's
# fixed widths and must not download in a test.
NARROW = {"pretrained_resnet34_unet": ["model.weights=null"]}


@pytest.mark.parametrize("option", _options("model"))
def test_model_options_build(option):
    cfg = _compose(f"model={option}", *NARROW.get(option, ["model.base_channels=4"]))
    model = instantiate(cfg.model)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)


@pytest.mark.parametrize("option", _options("optimizer"))
def test_optimizer_options_build(option):
    cfg = _compose(f"optimizer={option}")
    optimizer = instantiate(cfg.optimizer)([torch.nn.Parameter(torch.zeros(2))])
    assert optimizer.param_groups[0]["lr"] == cfg.optimizer.lr


@pytest.mark.parametrize("option", _options("scheduler"))
def test_scheduler_options_build(option):
    cfg = _compose(f"scheduler={option}", "trainer.epochs=3")
    spec = instantiate(cfg.scheduler)
    assert isinstance(spec, SchedulerSpec)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    scheduler = spec.build(optimizer, total_steps=30)
    assert (scheduler is None) == (option == "none")


@pytest.mark.parametrize("option", _options("augmentation"))
def test_augmentation_options_build(option):
    augment = instantiate(_compose(f"augmentation={option}").augmentation)
    assert isinstance(augment, BatchAugment)
    assert augment.is_identity == (option == "none")


@pytest.mark.parametrize("option", _options("logger"))
def test_logger_options_are_partials(option):
    assert callable(instantiate(_compose(f"logger={option}").logger))


@pytest.mark.parametrize("option", _options("data"))
def test_data_options_point_at_loaders(option):
    cfg = _compose(f"data={option}")
    assert cfg.data._target_.startswith("pet_seg.data.")
    assert cfg.data.val_every == 10


def test_trainer_builds_and_validates():
    settings = instantiate(_compose("trainer.precision=bf16-mixed").trainer)
    assert isinstance(settings, TrainerSettings) and settings.precision == "bf16-mixed"
    with pytest.raises(ValueError, match="trainer.precision"):
        TrainerSettings(precision="fp8")


def _with_hydra(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize("option", _options("experiment"))
def test_experiments_compose_as_ready_sweeps(option):
    cfg = _with_hydra(f"experiment={option}")
    assert cfg.name == option
    assert cfg.hydra.sweeper.params, f"experiment={option} sweeps nothing"


@pytest.mark.parametrize(
    ("option", "swept"),
    [
        ("architecture", {"model"}),
        ("augmentation_ablation", {"model", "augmentation"}),
        ("scheduler_ablation", {"model", "scheduler"}),
        ("quickstart", {"model", "scheduler"}),
    ],
)
def test_the_reports_comparisons_sweep_what_they_compare(option, swept):
    params = _with_hydra(f"experiment={option}").hydra.sweeper.params
    assert set(params) == swept
    assert set(params.model.split(",")) == {"unet", "resnet34_unet"}


def test_quickstart_is_the_headline_sweep_on_the_shipped_real_pets():
    cfg = _with_hydra("experiment=quickstart")
    assert cfg.data._target_ == "pet_seg.data.load_splits" and cfg.data.root is None
    assert cfg.hydra.sweeper.params.scheduler == "cosine,onecycle"
    assert cfg.model.base_channels == 64  # full-width models, small images
    assert cfg.data.image_size <= 128
