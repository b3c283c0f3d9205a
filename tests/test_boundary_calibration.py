"""The extra scores on hand-drawn masks whose values are known, and the attributes."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from pet_seg.boundary import (
    boundary_dilation,
    boundary_iou,
    hd95,
    mask_to_boundary,
    trimap_dice,
)
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


def _reference_boundary(mask: np.ndarray, ratio: float = 0.02) -> np.ndarray:
    """boundary-iou-api's ``mask_to_boundary``, written independently: explicit one-pixel zero
    pad, ``dilation`` erosions by a 3×3 square (beyond the pad nothing erodes, as cv2.erode's
    default border), then mask minus its erosion."""
    h, w = mask.shape
    dilation = max(1, int(round(ratio * np.sqrt(h**2 + w**2))))  # noqa: RUF046 (as the reference)
    padded = np.pad(mask.astype(np.uint8), 1, constant_values=0)
    eroded = ndimage.binary_erosion(
        padded, structure=np.ones((3, 3), bool), iterations=dilation, border_value=1
    )[1 : h + 1, 1 : w + 1]
    return (mask.astype(np.uint8) - eroded.astype(np.uint8)) > 0


def _reference_iou(truth: np.ndarray, pred: np.ndarray) -> float:
    bg, bp = _reference_boundary(truth), _reference_boundary(pred)
    union = np.sum(bg | bp)
    return 1.0 if union == 0 else np.sum(bg & bp) / union  # the reference: 0/0 here


def _hand_made() -> list[tuple[np.ndarray, np.ndarray]]:
    """Squares, shapes cut by the picture's edge, thin lines, noise, odd and tiny grids."""
    rng = np.random.default_rng(0)
    pairs = [
        (_square(12, 2, 2, 6), _square(12, 2, 3, 6)),
        (_square(64, 0, 0, 40), _square(64, 5, 0, 40)),
    ]
    for h, w in ((37, 53), (160, 121), (5, 7), (1, 9), (125, 100)):  # (125, 100): 0.02·160 = 3.2
        blob = ndimage.gaussian_filter(rng.normal(size=(h, w)), 3) > 0
        noise = rng.random((h, w)) > 0.5
        line = np.zeros((h, w), bool)
        line[h // 2, :] = True
        pairs += [
            (blob, noise),
            (blob, np.roll(blob, 2, axis=1)),
            (line, blob),
            (np.ones((h, w), bool), blob),
        ]
    return pairs


def test_boundary_dilation_is_the_papers_rounded_two_percent_of_the_diagonal():
    assert boundary_dilation((300, 400)) == 10  # diagonal 500
    assert boundary_dilation((30, 40)) == 1  # 0.02 × 50 = 1
    assert boundary_dilation((10, 10)) == 1  # 0.28 rounds to 0: never thinner than one pixel
    assert boundary_dilation((64, 64)) == 2  # 1.81
    assert boundary_dilation((375, 500)) == 12  # 12.5 rounds half to even, as the reference


def test_boundary_of_a_square_is_its_ring_and_the_edge_counts():
    mask = _square(10, 2, 2, 6)  # 6x6 square
    assert mask_to_boundary(mask, 1).sum() == 36 - 16  # one-pixel outline: 20 pixels
    assert mask_to_boundary(mask, 2).sum() == 36 - 4  # two pixels deep: all but the 2x2 core
    assert mask_to_boundary(np.ones((4, 4), bool), 1).sum() == 12  # the edge is outline


@pytest.mark.parametrize("index", range(len(_hand_made())))
def test_boundary_iou_equals_the_reference_algorithm_on_hand_made_masks(index):
    truth, pred = _hand_made()[index]
    assert np.array_equal(mask_to_boundary(truth, boundary_dilation(truth.shape)),
                          _reference_boundary(truth))  # fmt: skip
    assert abs(boundary_iou(pred, truth) - _reference_iou(truth, pred)) < 1e-9


def test_boundary_iou_equals_the_reference_algorithm_on_real_pets():
    """Shipped trimaps at their original size against predictions a 64-px model would give
    (the mask taken to 64 px and back) and shifted, eroded and dilated versions."""
    from pet_seg.data.mini import MINI_ROOT
    from pet_seg.data.oxford_pet import read_split, read_trimap, trimap_path, trimap_to_mask
    from pet_seg.trained_model import resize_logits

    names = read_split(MINI_ROOT, "test")[::25]  # 12 pets of all three breeds
    dilations = set()  # band widths met
    for name in names:
        truth = trimap_to_mask(np.asarray(read_trimap(trimap_path(MINI_ROOT, name)))).astype(bool)
        small = torch.nn.functional.interpolate(
            torch.from_numpy(truth).float()[None, None] * 2 - 1, size=(64, 64), mode="nearest"
        )
        coarse = (resize_logits(small, truth.shape)[0, 0] > 0).numpy()
        dilations.add(boundary_dilation(truth.shape))
        for pred in (coarse, np.roll(truth, 3, axis=0), ndimage.binary_erosion(truth, iterations=2),
                     ndimage.binary_dilation(truth, iterations=5)):  # fmt: skip
            assert abs(boundary_iou(pred, truth) - _reference_iou(truth, pred)) < 1e-9, name
        assert boundary_iou(truth, truth) == 1.0
    assert dilations == {4}  # the shipped pictures are at most 160 px: 0.02 × ~200


def test_boundary_iou_on_shifted_squares():
    truth = _square(12, 2, 2, 6)
    assert boundary_iou(truth, truth, 1) == 1.0
    shifted = _square(12, 2, 3, 6)  # one column right
    # outlines: 20 pixels each; shared: rows 2 and 7 at cols 3..7 (10); the side columns are
    # each other's interior: intersection 10, union 20 + 20 - 10 = 30
    assert boundary_iou(shifted, truth, 1) == pytest.approx(1 / 3)
    assert boundary_iou(np.zeros_like(truth), np.zeros_like(truth)) == 1.0
    assert boundary_iou(np.zeros_like(truth), truth) == 0.0
    # Dice barely notices a shift that the boundary score counts heavily
    assert 2 * np.sum(shifted & truth) / 72 == pytest.approx(60 / 72)


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


def test_extra_scores_on_real_pets_are_taken_at_the_original_size(tmp_path):
    from pet_seg.data.mini import MINI_ROOT
    from pet_seg.data.oxford_pet import load_sample, read_split
    from pet_seg.extra_scores import COLUMNS, ExtraScores
    from pet_seg.scoring import Scores, write_per_image
    from pet_seg.trained_model import load_original, resize_logits

    names = [*read_split(MINI_ROOT, "test")[:3], "not_listed_7"]
    extras = ExtraScores(MINI_ROOT, names, with_hd95=True)
    masks = torch.stack([torch.from_numpy(load_sample(MINI_ROOT, n, 64)[1]) for n in names[:3]])
    masks = torch.cat([masks, masks[:1]])[:, None].float()  # (4, 1, 64, 64)
    logits = masks * 20 - 10  # +10 on the 64-px truth, -10 elsewhere
    extras(logits, masks)
    columns = extras.columns()
    assert columns["species"][:3] == ["cat"] * 3 and columns["species"][3] == "unknown"
    for i, name in enumerate(names[:3]):  # the 64-px prediction scored against the full mask
        truth = load_original(MINI_ROOT, name)[1].astype(bool)
        pred = (resize_logits(logits[i : i + 1], truth.shape)[0, 0] > 0).numpy()
        assert columns["boundary_iou"][i] == pytest.approx(_reference_iou(truth, pred), abs=1e-9)
        assert columns["boundary_iou"][i] < 1.0  # 64 px cannot draw a full-size outline
        assert columns["boundary_width_px"][i] == boundary_dilation(truth.shape)
        assert columns["hd95_px"][i] == pytest.approx(hd95(pred, truth))
    # the unlisted name has no trimap: scored on the batch's grid, perfect there
    assert columns["boundary_iou"][3] == 1.0 and columns["hd95_px"][3] == 0.0
    assert math.isnan(columns["dice_trimap"][3]) and columns["boundary_width_px"][3] == 2
    width, height = (int(v) for v in (columns["original_width"][0], columns["original_height"][0]))
    assert max(width, height) <= 160 and 0 < columns["pet_share"][0] < 1
    counts = torch.tensor([[5, 5, 5]] * 4)
    write_per_image(tmp_path / "r.csv", names, Scores(0.0, counts), columns)
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert header == ["name", "dice", "iou", "intersection", "predicted", "true", *COLUMNS,
                      "hd95_px"]  # fmt: skip


def test_extra_scores_of_a_perfect_prediction_at_the_original_size_are_perfect():
    """What ``evaluate eval_resolution=original`` hands over: one picture at its own size."""
    from pet_seg.data.mini import MINI_ROOT
    from pet_seg.data.oxford_pet import read_split
    from pet_seg.extra_scores import ExtraScores
    from pet_seg.trained_model import load_original

    names = read_split(MINI_ROOT, "test")[:2]
    extras = ExtraScores(MINI_ROOT, names)
    for name in names:
        truth = torch.from_numpy(load_original(MINI_ROOT, name)[1]).float()[None, None]
        extras(truth * 20 - 10, truth)
    columns = extras.columns()
    assert columns["boundary_iou"] == [1.0, 1.0] and columns["dice_trimap"] == [1.0, 1.0]
    assert "hd95_px" not in columns  # not asked for
