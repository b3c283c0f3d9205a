"""One shared test family for the segmentation models, in the segmentation_models_pytorch spirit.

Parameter counts use the report's widths (counting builds no activations); everything that runs
a forward pass uses a narrow width so the file stays fast on a small CPU.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pet_seg.models import PretrainedResNet34UNet, ResNet34UNet, UNet
from pet_seg.models.pretrained_unet import PretrainedWeightsError

# (model class, parameters at the report's width)
COUNTS = [
    pytest.param(UNet, 31_037_633, id="unet"),
    pytest.param(ResNet34UNet, 38_215_873, id="resnet34_unet"),
]
# (model class, narrow width, input H×W). ResNet34UNet needs even sizes of at least 34 px (its
# bridge is H/64; tests/test_follow.py checks each model's rule); UNet also takes 72×72, whose
# 9 → 4 pooling exercises the pad-to-skip path.
SHAPES = [
    pytest.param(UNet, 8, (64, 64), id="unet-64x64"),
    pytest.param(UNet, 8, (64, 128), id="unet-64x128"),
    pytest.param(UNet, 8, (72, 72), id="unet-72x72-odd"),
    pytest.param(ResNet34UNet, 4, (64, 64), id="resnet34_unet-64x64"),
    pytest.param(ResNet34UNet, 4, (64, 128), id="resnet34_unet-64x128"),
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("model_cls", "count"), COUNTS)
def test_parameter_count_matches_report(model_cls: type[nn.Module], count: int) -> None:
    assert n_params(model_cls()) == count


@pytest.mark.parametrize(("model_cls", "width", "size"), SHAPES)
def test_forward_returns_logits_at_input_size(
    model_cls: type[nn.Module], width: int, size: tuple[int, int]
) -> None:
    torch.manual_seed(0)
    model = model_cls(in_channels=3, out_channels=2, base_channels=width)
    x = torch.randn(2, 3, *size)  # (B, C, H, W)
    logits = model(x)
    assert logits.shape == (2, 2, *size)
    # Logits, not probabilities: a sigmoid output could never leave [0, 1].
    assert logits.min() < 0 or logits.max() > 1

    logits.mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


# ---- the pretrained baseline: torchvision's ResNet34 encoder + the project's decoder ----------
# Never downloads: TORCH_HOME points at an empty or hand-filled temporary cache.

# torchvision resnet34: 21,797,672 parameters, of which the 512→1000 classifier is
# 512·1000 + 1000 = 513,000; the encoder keeps the rest.
TV_RESNET34_ENCODER = 21_797_672 - 513_000
# The decoder, from the encoder channels [64, 64, 128, 256, 512] (convT and bridge have bias):
#   bridge 3×3 512→1024 + BN:             512·1024·9 + 1024 + 2·1024     =  4,721,664
#   Up(1024, skip 512): convT + DoubleConv  2,097,664 + 7,079,936        =  9,177,600
#   Up(512, 256):                             524,544 + 1,770,496        =  2,295,040
#   Up(256, 128):                             131,200 +   442,880        =    574,080
#   Up(128, 64):                               32,832 +   110,848        =    143,680
#   Up(64, 64):  convT 64→32, DoubleConv 96→64  8,224 +    92,416        =    100,640
#   final convT 64→64: 64·64·4 + 64 = 16,448;   head 1×1 64→1: 65
PRETRAINED_DECODER = 4_721_664 + 9_177_600 + 2_295_040 + 574_080 + 143_680 + 100_640 + 16_448


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def test_pretrained_unet_parameter_count_by_hand(empty_torch_home):
    from torchvision.models import resnet34

    model = PretrainedResNet34UNet(weights=None)
    tv = resnet34(weights=None)
    assert n_params(model.encoder) == TV_RESNET34_ENCODER == n_params(tv) - n_params(tv.fc)
    assert n_params(model.decoder) == PRETRAINED_DECODER
    assert n_params(model) == TV_RESNET34_ENCODER + PRETRAINED_DECODER + 65 == 38_313_889
    assert model.encoder_weights == "untrained"
    assert not list(empty_torch_home.rglob("*.pth"))  # nothing fetched


def test_pretrained_unet_forward_64x64():
    torch.manual_seed(0)
    model = PretrainedResNet34UNet(out_channels=2, weights=None).eval()
    with torch.no_grad():  # full width: training it is the experiment test's job
        logits = model(torch.randn(1, 3, 64, 64))  # (B, C, H, W)
    assert logits.shape == (1, 2, 64, 64)
    assert logits.min() < 0 or logits.max() > 1  # logits, not probabilities


def write_fake_imagenet_weights(torch_home) -> dict[str, torch.Tensor]:
    """Put a seeded random resnet34 state_dict where torchvision caches the ImageNet file."""
    from torchvision.models import ResNet34_Weights, resnet34

    torch.manual_seed(123)
    state = resnet34(weights=None).state_dict()
    url = ResNet34_Weights.IMAGENET1K_V1.url
    path = torch_home / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return state


def test_pretrained_unet_loads_the_cached_imagenet_file(empty_torch_home):
    state = write_fake_imagenet_weights(empty_torch_home)
    model = PretrainedResNet34UNet(weights="IMAGENET1K_V1")
    assert model.encoder_weights == "torchvision ResNet34_Weights.IMAGENET1K_V1"
    assert torch.equal(model.encoder.stem[0].weight, state["conv1.weight"])
    assert torch.equal(model.encoder.layer4[2].conv2.weight, state["layer4.2.conv2.weight"])
    assert PretrainedResNet34UNet(weights="DEFAULT").encoder_weights.endswith("IMAGENET1K_V1")


def test_pretrained_unet_without_network_stops_and_names_the_fix(empty_torch_home, monkeypatch):
    from urllib.error import URLError

    import torchvision.models._api as tv_api

    def offline(url, *args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", offline)
    with pytest.raises(PretrainedWeightsError, match="model.weights=null") as err:
        PretrainedResNet34UNet(weights="IMAGENET1K_V1")
    assert "could not download" in str(err.value) and str(empty_torch_home) in str(err.value)
    with pytest.raises(ValueError, match="model.weights='IMAGENET'.*IMAGENET1K_V1"):
        PretrainedResNet34UNet(weights="IMAGENET")
