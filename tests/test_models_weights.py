"""ImageNet weights come only from files on disk (torch hub cache or --weights-dir), never
from the network; ``auto`` falls back to training from scratch and says which it used."""
from __future__ import annotations

import json
import urllib.request

import pytest
import torch
import torchvision

from core.errors import UserError
from core.models.registry import build_model
from core.models.train import train_models
from core.models.weights import find_weights, load_imagenet, weights_file_name
from models_helpers import add_tiny_dataset, torch_threads  # noqa: F401


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was touched")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch hub cache; torch.hub.get_dir() points into it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    return tmp_path / "torch" / "hub" / "checkpoints"


def _imagenet_googlenet(folder):
    """A real GoogLeNet state dict in ImageNet's layout (1000 classes, auxiliary heads), saved
    under torchvision's file name."""
    torch.manual_seed(3)
    model = torchvision.models.GoogLeNet(num_classes=1000, aux_logits=True, init_weights=True)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / weights_file_name("googlenet")
    torch.save(model.state_dict(), path)
    return model.state_dict()


def test_file_names_are_torchvisions():
    assert weights_file_name("resnet50") == "resnet50-0676ba61.pth"
    assert weights_file_name("vit_b_16") == "vit_b_16-c867db91.pth"


def test_auto_uses_the_cache_when_present_and_scratch_otherwise(store, torch_home):
    add_tiny_dataset(store)
    options = {"device": "cpu", "epochs": 1, "image_size": 32}
    assert find_weights("googlenet", "auto") is None
    train_models(store, "tiny", ["googlenet"], init="auto", **options)
    with store.read() as cur:
        assert cur.execute("SELECT init FROM models").fetchone()[0] == "scratch"

    _imagenet_googlenet(torch_home)
    assert find_weights("googlenet", "auto") == torch_home / "googlenet-1378be20.pth"
    train_models(store, "tiny", ["googlenet"], init="auto", **options)
    with store.read() as cur:
        init, config = cur.execute("SELECT init, config FROM models").fetchone()
    assert init == "imagenet"
    assert json.loads(config)["weights_file"] == "googlenet-1378be20.pth"


def test_imagenet_weights_fill_everything_but_the_head(torch_home):
    saved = _imagenet_googlenet(torch_home)
    model = build_model("googlenet", image_size=32)
    load_imagenet(model, "googlenet", find_weights("googlenet", "imagenet"))
    state = model.state_dict()
    assert torch.equal(state["conv1.conv.weight"], saved["conv1.conv.weight"])
    assert torch.equal(state["inception5b.branch1.conv.weight"],
                       saved["inception5b.branch1.conv.weight"])
    assert state["fc.weight"].shape == (2, 1024)


def test_old_densenet_key_names_are_understood(tmp_path):
    torch.manual_seed(4)
    reference = torchvision.models.densenet121(num_classes=1000).state_dict()
    old_style = {key.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): value
                 for key, value in reference.items() if "num_batches_tracked" not in key}
    assert old_style.keys() != reference.keys()
    torch.save(old_style, tmp_path / weights_file_name("densenet121"))
    model = build_model("densenet121", image_size=32)
    load_imagenet(model, "densenet121", find_weights("densenet121", "imagenet", tmp_path))
    key = "features.denseblock2.denselayer3.norm1.weight"
    assert torch.equal(model.state_dict()[key], reference[key])


def test_missing_or_unsafe_weights_are_clear_errors(tmp_path, torch_home):
    with pytest.raises(UserError, match="resnet50-0676ba61.pth"):
        find_weights("resnet50", "imagenet")
    with pytest.raises(UserError, match="not a folder"):
        find_weights("resnet50", "auto", tmp_path / "absent")
    with pytest.raises(UserError, match="--init must be"):
        find_weights("resnet50", "pretrained")

    class Payload:
        def __reduce__(self):
            return (print, ("payload ran",))

    torch.save({"conv1.weight": Payload()}, tmp_path / weights_file_name("resnet50"))
    path = find_weights("resnet50", "imagenet", tmp_path)
    with pytest.raises(UserError, match="cannot load ImageNet weights"):
        load_imagenet(build_model("resnet50", image_size=32), "resnet50", path)
