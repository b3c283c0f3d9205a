"""Shared fixtures."""

from pathlib import Path

import pytest
from tiny import real_subset

from pet_seg.data import generate_synthetic


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic Oxford-IIIT Pet: 40 trainval + 12 test images, seed 0, default sizes,
    generated once per session, so ``load_synthetic_splits(str(root), S, 40, 12, seed=0)``
    reuses it. Treat it as read-only: copy it before breaking files."""
    root = tmp_path_factory.mktemp("synthetic") / "oxford-iiit-pet"
    return generate_synthetic(root, num_trainval=40, num_test=12, seed=0)


@pytest.fixture(scope="session")
def real_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real pets: a copy of the shipped subset whose split files list 40 trainval + 12 test
    pairs (the PNG named .jpg among them; every other picture and odd file still in images/).
    Treat it as read-only: copy it before breaking files."""
    return real_subset(tmp_path_factory.mktemp("real") / "oxford-iiit-pet")
