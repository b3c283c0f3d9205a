"""Overrides that shrink the real config to seconds on a CPU: 64 px, 4-channel models, 2 epochs."""

from pathlib import Path

CONF = Path(__file__).resolve().parents[1] / "conf"


def tiny_overrides(data_root: Path, epochs: int = 2) -> list[str]:
    return [
        "data=synthetic",
        f"data.root={data_root}",
        "data.image_size=64",
        "data.num_trainval=40",
        "data.num_test=12",
        "model.base_channels=4",
        f"trainer.epochs={epochs}",
        "trainer.batch_size=4",
        "trainer.progress=false",
    ]
