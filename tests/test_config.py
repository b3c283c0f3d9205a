"""Every option of every config group composes with the real conf/ and builds its object."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from pet_seg.augmentation import BatchAugment
from pet_seg.schedule import SchedulerSpec
from pet_seg.settings import TrainerSettings

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


def test_defaults_are_the_reports_recipe():
    cfg = _compose()
    assert cfg.model._target_ == "pet_seg.models.UNet" and cfg.trainer.batch_size == 32
    assert (cfg.optimizer.lr, cfg.optimizer.weight_decay) == (1e-3, 1e-2)
    assert cfg.trainer.epochs == 50 and cfg.data.image_size == 256
    assert cfg.augmentation.hflip == 0.5 and cfg.augmentation.brightness == 0.2
    assert _compose("model=resnet34_unet").trainer.batch_size == 128


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


def test_quickstart_is_the_headline_sweep_on_synthetic_data():
    cfg = _with_hydra("experiment=quickstart")
    assert cfg.data._target_ == "pet_seg.data.load_synthetic_splits"
    assert cfg.hydra.sweeper.params.scheduler == "cosine,onecycle"
    assert cfg.model.base_channels == 64  # full-width models, small images
    assert cfg.data.image_size <= 128
