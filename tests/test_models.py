"""Model zoo: the seed preset's exact size, TumorCNN's computed flatten size, FastNet, the registry."""

from __future__ import annotations

import pytest
import torch
from test_transforms import head_image
from torch import nn

from brainlib import engine, recipes
from brainlib.config import CLASSES
from brainlib.models import BrainNorm, FastNet, TumorCNN, build_model, count_parameters, seed_model
from brainlib.transforms import to_model_input


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.classifier if isinstance(m, nn.Linear)]


def test_seed_preset_parameters_and_output():
    torch.manual_seed(0)
    model = build_model("seed")
    assert count_parameters(model) == 51_032
    assert count_parameters(seed_model()) == 51_032
    with torch.no_grad():
        out = model(torch.randn(2, 3, 224, 224))
    assert out.shape == (2, len(CLASSES)) == (2, 4)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "in_channels, blocks, convs, width, fc_layers, size",
    [
        (3, 2, 3, 4, 1, 224),
        (1, 1, 1, 2, 1, 32),
        (1, 3, 2, 8, 1, 64),
        (3, 2, 1, 6, 2, 50),
        (1, 3, 1, 4, 2, 37),  # odd sizes: 37 → 18 → 9 → 4 (floor at each pool)
        (1, 4, 2, 3, 3, 128),
    ],
)
def test_tumorcnn_flatten_size(in_channels, blocks, convs, width, fc_layers, size):
    model = TumorCNN(
        in_channels=in_channels,
        blocks=blocks,
        convs_per_block=convs,
        width=width,
        fc_layers=fc_layers,
        fc_hidden=16,
        input_size=size,
    )
    side = size
    for _ in range(blocks):
        side //= 2
    assert linears(model)[0].in_features == width * side * side
    assert len(linears(model)) == fc_layers
    convs_found = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert len(convs_found) == blocks * convs
    with torch.no_grad():
        out = model(torch.randn(2, in_channels, size, size))
    assert out.shape == (2, len(CLASSES))


def test_tumorcnn_fc_layers_2_adds_hidden_layer():
    one = TumorCNN(in_channels=1, input_size=64, fc_layers=1)
    two = TumorCNN(in_channels=1, input_size=64, fc_layers=2, fc_hidden=32)
    flat = 4 * 16 * 16
    assert [(m.in_features, m.out_features) for m in linears(one)] == [(flat, 4)]
    assert [(m.in_features, m.out_features) for m in linears(two)] == [(flat, 32), (32, 4)]
    assert sum(isinstance(m, nn.ReLU) for m in two.classifier) == 1
    head_one = flat * 4 + 4
    head_two = flat * 32 + 32 + 32 * 4 + 4
    assert count_parameters(two) - count_parameters(one) == head_two - head_one
    with torch.no_grad():
        assert two(torch.randn(2, 1, 64, 64)).shape == (2, 4)


def test_tumorcnn_records_input_geometry():
    model = build_model("tumorcnn", in_channels=1, input_size=96)
    assert (model.in_channels, model.input_size) == (1, 96)


def test_fastnet_output_shape():
    torch.manual_seed(0)
    model = FastNet().eval()
    assert (model.in_channels, model.input_size) == (1, 160)
    with torch.no_grad():
        out = model(torch.randn(2, 1, 160, 160))
    assert out.shape == (2, 4)
    assert torch.isfinite(out).all()


def test_fastnet_custom_widths_and_size():
    model = build_model("fastnet", widths=(8, 16), input_size=64).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 64, 64)).shape == (3, 4)
    assert model.classifier[-1].in_features == 16


def test_fastnet_trains_one_step():
    torch.manual_seed(0)
    model = FastNet(widths=(8, 16, 32))
    x, y = torch.randn(4, 1, 64, 64), torch.tensor([0, 1, 2, 3])
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_build_model_unknown_name():
    with pytest.raises(ValueError, match="unknown model 'resnet9000'"):
        build_model("resnet9000")


def test_receptive_fields_of_the_seed_model():
    from brainlib.models import receptive_fields

    table = receptive_fields(build_model("seed"))
    assert list(table["type"]) == ["Conv2d"] * 3 + ["MaxPool2d"] + ["Conv2d"] * 3 + ["MaxPool2d"]
    assert list(table["receptive field (px)"]) == [3, 5, 7, 8, 12, 16, 20, 22]
    assert list(table["stride (px)"]) == [1, 1, 1, 2, 2, 2, 2, 4]


def test_receptive_field_of_a_patchify_stem():
    from brainlib.models import receptive_fields

    table = receptive_fields(build_model("fastnet"))
    assert table.iloc[0]["receptive field (px)"] == 4 and table.iloc[0]["stride (px)"] == 4
    assert table["receptive field (px)"].is_monotonic_increasing


def test_seed_with_batch_norm_is_one_change_and_round_trips_through_a_checkpoint(tmp_path):

    plain, bn = build_model("seed", input_size=32), build_model("seed", input_size=32, batch_norm=True)
    bns = [m for m in bn.features if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 6 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.features)
    assert count_parameters(bn) - count_parameters(plain) == 6 * 2 * 4  # a scale and a shift per channel
    cfg = recipes.train_config("seed", model_kwargs={"input_size": 32, "batch_norm": True})
    engine.atomic_save(engine.checkpoint_dict(bn, cfg), tmp_path / "bn.pt")
    loaded, _ = engine.load_checkpoint(tmp_path / "bn.pt", device="cpu")
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.features) == 6


def test_brain_norm_removes_brightness_and_contrast_inside_the_head():
    x = to_model_input((head_image(n=1) * 255).round().to(torch.uint8))
    raw = (x * 0.5 + 0.5) * 255
    head = raw > 10
    brighter = raw.clone()
    brighter[head] = raw[head] * 0.6 + 40  # another scanner's gain and offset
    y = (brighter / 255 - 0.5) / 0.5
    norm = BrainNorm()
    a, b = norm(x), norm(y)
    assert torch.allclose(a, b, atol=1e-4)
    assert torch.all(a[~head] == -3.0)
    assert a[head].mean().abs() < 1e-4 and a[head].std() == pytest.approx(1.0, abs=1e-3)


def test_fastnet_input_norm_choice_and_checkpoint_roundtrip(tmp_path):
    plain, normed = build_model("fastnet", input_size=64), build_model("fastnet", input_size=64, input_norm="brain")
    assert count_parameters(plain) == count_parameters(normed)  # parameter-free
    assert isinstance(normed.features[0], BrainNorm)
    with pytest.raises(ValueError, match="input_norm"):
        build_model("fastnet", input_norm="percentile")
    cfg = engine.TrainConfig(model_kwargs={"input_size": 64, "input_norm": "brain"}, augment="mri")
    path = tmp_path / "m.pt"
    engine.atomic_save(engine.checkpoint_dict(normed, cfg), path)
    model, ckpt = engine.load_checkpoint(path)
    assert ckpt["model_kwargs"]["input_norm"] == "brain" and ckpt["train_config"]["augment"] == "mri"
    x = torch.randn(2, 1, 64, 64)
    normed.eval()
    assert torch.allclose(model(x), normed(x))


def test_brain_norm_edge_cases_stay_finite():
    norm = BrainNorm()
    empty = torch.full((1, 1, 8, 8), -1.0)  # all background
    assert torch.equal(norm(empty), torch.full_like(empty, -3.0))
    one = empty.clone()
    one[0, 0, 4, 4] = 0.5  # a single head pixel: its own mean, so z = 0
    out = norm(one)
    assert torch.isfinite(out).all() and out[0, 0, 4, 4] == 0
