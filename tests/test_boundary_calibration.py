"""The extra scores on hand-drawn masks whose values are known, and the attributes."""

import math

import numpy as np
import pytest
import torch

from pet_seg.boundary import boundary_band, boundary_iou, boundary_width, hd95, trimap_dice
from pet_seg.calibration import (
    THRESHOLDS,
    ProbabilityBins,
    calibration_record,
    dice_by_threshold,
    expected_calibration_error,
)
from pet_seg.data.attributes import breed_name, identities_of, pet_share


def _square(size: int, top: int, left: int, side: int) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[top : top + side, left : left + side] = True
    return mask


def test_trimap_dice_ignores_the_border_in_prediction_and_truth():
    trimap = np.array([[1, 1, 3, 2], [1, 1, 3, 2]], dtype=np.uint8)  # 4 pet, 2 border, 2 bg
    pred = np.array([[1, 0, 1, 1], [1, 0, 1, 0]], dtype=bool)  # border pixels predicted: ignored
    # care: pet 4 pixels, pred on cared pixels: 2 pet + 1 bg -> 2*2 / (3 + 4)
    assert trimap_dice(pred, trimap) == pytest.approx(4 / 7)
    assert trimap_dice(trimap != 2, trimap) == 1.0  # the main mask (border = pet): no penalty
    assert trimap_dice(np.zeros((2, 2), bool), np.full((2, 2), 3, np.uint8)) == 1.0  # all border


def test_boundary_band_of_a_square_is_its_ring():
    mask = _square(10, 2, 2, 6)  # 6x6 square
    assert boundary_band(mask, 1.0).sum() == 36 - 16  # one-pixel outline: 20 pixels
    assert boundary_band(mask, 2.0).sum() == 36 - 4  # two pixels deep: all but the 2x2 core
    # a band is never thinner than one grid pixel, even for a width below the spacing
    assert boundary_band(mask, 0.1, spacing=(3.0, 3.0)).sum() == 20
    # the picture's edge is outline, as in the paper's code
    assert boundary_band(np.ones((4, 4), bool), 1.0).sum() == 12


def test_boundary_iou_on_shifted_squares():
    truth = _square(12, 2, 2, 6)
    assert boundary_iou(truth, truth, 1.0) == 1.0
    shifted = _square(12, 2, 3, 6)  # one column right
    # outlines: 20 pixels each; shared: rows 2 and 7 at cols 3..7 (10); the side columns are
    # each other's interior: intersection 10, union 20 + 20 - 10 = 30
    assert boundary_iou(shifted, truth, 1.0) == pytest.approx(1 / 3)
    assert boundary_iou(np.zeros_like(truth), np.zeros_like(truth), 1.0) == 1.0
    assert boundary_iou(np.zeros_like(truth), truth, 1.0) == 0.0
    # Dice barely notices a shift that the boundary score counts heavily
    assert 2 * np.sum(shifted & truth) / 72 == pytest.approx(60 / 72)


def test_boundary_width_is_two_percent_of_the_diagonal():
    assert boundary_width((300, 400)) == pytest.approx(10.0)


def test_hd95_of_a_shift_is_the_shift_in_original_pixels():
    truth, shifted = _square(12, 2, 2, 6), _square(12, 2, 4, 6)  # two columns right
    assert hd95(truth, truth) == 0.0
    assert hd95(shifted, truth) == pytest.approx(2.0)
    assert hd95(shifted, truth, spacing=(1.0, 5.0)) == pytest.approx(10.0)  # wide pixels
    assert math.isnan(hd95(np.zeros_like(truth), truth))


def _bins(probs: list[list[float]], truth: list[list[int]]) -> ProbabilityBins:
    p = torch.tensor(probs, dtype=torch.float64).clamp(1e-6, 1 - 1e-6)
    logits = torch.log(p / (1 - p)).float()[:, None, None, :]  # (N, 1, 1, W)
    bins = ProbabilityBins()
    bins.add(logits, torch.tensor(truth, dtype=torch.float32)[:, None, None, :])
    return bins


def test_ece_of_a_calibrated_and_an_overconfident_model():
    # p = 0.125 on 8 pixels of which 1 is pet: calibrated, ECE 0
    counts, positives, sums = _bins([[0.125] * 8], [[1, 0, 0, 0, 0, 0, 0, 0]]).arrays()
    assert expected_calibration_error(counts.sum(0), positives.sum(0), sums) == pytest.approx(
        0, abs=1e-6
    )
    # p = 0.9 everywhere, half pet: |0.5 - 0.9| = 0.4
    counts, positives, sums = _bins([[0.9] * 4], [[1, 1, 0, 0]]).arrays()
    assert expected_calibration_error(counts.sum(0), positives.sum(0), sums) == pytest.approx(0.4)


def test_dice_by_threshold_is_exact_at_every_threshold():
    probs = [[0.93, 0.62, 0.40, 0.12], [0.51, 0.49, 0.02, 0.97]]
    truth = [[1, 1, 1, 0], [1, 0, 0, 0]]
    counts, positives, _ = _bins(probs, truth).arrays()
    curve = dice_by_threshold(counts, positives)  # (2, 19)
    for k, t in enumerate(THRESHOLDS):
        for i in range(2):
            pred = np.array(probs[i]) > t
            true = np.array(truth[i], bool)
            expected = 2 * np.sum(pred & true) / (pred.sum() + true.sum())
            assert curve[i, k] == pytest.approx(expected), (i, t)
    # 0.5 is logit > 0: 0.51 counts, 0.49 does not
    assert curve[1, list(THRESHOLDS).index(0.5)] == pytest.approx(2 / 3)


def test_calibration_record_picks_validations_threshold_and_states_the_gain():
    test = _bins([[0.3, 0.3, 0.8, 0.1]], [[1, 1, 1, 0]])
    val = _bins([[0.3, 0.35, 0.1, 0.1]], [[1, 1, 0, 0]])
    record = calibration_record(test, val)
    assert 0.1 <= record["threshold"] < 0.3  # every threshold between 0.1 and 0.3 is perfect
    assert record["test_dice_at_0.5"] == pytest.approx(2 / 4)
    assert record["test_dice_at_threshold"] == pytest.approx(1.0)
    assert record["tuning_gain"] == pytest.approx(0.5)
    assert calibration_record(test, None)["threshold"] == 0.5


def test_attributes_from_split_files_and_unknown_names(tmp_path):
    annotations = tmp_path / "annotations"
    annotations.mkdir()
    (annotations / "test.txt").write_text("Abyssinian_1 1 1 1\namerican_bulldog_12 2 2 1\n")
    (annotations / "list.txt").write_text("#comment\nBengal_3 6 1 6\n")
    names = ["Abyssinian_1", "american_bulldog_12", "Bengal_3", "my_photo"]
    found = identities_of(tmp_path, names)
    assert [(i.species, i.breed) for i in found] == [
        ("cat", "Abyssinian"),
        ("dog", "american_bulldog"),
        ("cat", "Bengal"),
        ("unknown", "unknown"),
    ]
    assert identities_of(tmp_path / "nowhere", ["x_1"])[0].species == "unknown"
    assert breed_name("great_pyrenees_100") == "great_pyrenees"
    assert pet_share(np.array([[1, 3], [2, 2]])) == 0.5


def test_extra_scores_on_real_pets_predicted_perfectly(tmp_path):
    from pet_seg.data.mini import MINI_ROOT
    from pet_seg.data.oxford_pet import load_sample, read_split
    from pet_seg.extra_scores import COLUMNS, ExtraScores
    from pet_seg.scoring import Scores, write_per_image

    names = [*read_split(MINI_ROOT, "test")[:3], "not_listed_7"]
    extras = ExtraScores(MINI_ROOT, names, with_hd95=True)
    masks = torch.stack([torch.from_numpy(load_sample(MINI_ROOT, n, 64)[1]) for n in names[:3]])
    masks = torch.cat([masks, masks[:1]])[:, None].float()  # (4, 1, 64, 64)
    extras(masks * 20 - 10, masks)  # logits: +10 on the truth, -10 elsewhere
    columns = extras.columns()
    assert columns["species"][:3] == ["cat"] * 3 and columns["species"][3] == "unknown"
    assert columns["boundary_iou"] == [1.0] * 4 and columns["hd95_px"] == [0.0] * 4
    assert columns["dice_trimap"][:3] == [1.0] * 3  # border pixels predicted as pet: ignored
    assert math.isnan(columns["dice_trimap"][3])  # no trimap for the unlisted name
    width, height = (int(v) for v in (columns["original_width"][0], columns["original_height"][0]))
    assert max(width, height) <= 160 and 0 < columns["pet_share"][0] < 1
    assert columns["boundary_width_px"][0] == pytest.approx(0.02 * math.hypot(width, height))
    counts = torch.tensor([[5, 5, 5]] * 4)
    write_per_image(tmp_path / "r.csv", names, Scores(0.0, counts), columns)
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert header == [
        "name",
        "dice",
        "iou",
        "intersection",
        "predicted",
        "true",
        *COLUMNS,
        "hd95_px",
    ]
