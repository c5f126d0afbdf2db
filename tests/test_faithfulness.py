"""ROAD and confidence change come from pytorch-grad-cam and rank a map that points at what
the model uses above one that points elsewhere."""
import numpy as np
import pytest
import torch
from torch import nn

from core.heatmaps.faithfulness import confidence_change, road_scores
from core.models.registry import grey_to_input

SIZE = 32


class CentreReader(nn.Module):
    """A fixed 'model' whose malignant logit is the mean brightness of the image's centre."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(8.0), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centre = x[:, 0, 12:20, 12:20].mean(dim=(1, 2))
        return torch.stack([torch.zeros_like(centre), self.scale * centre], dim=1)


def _images(n: int) -> torch.Tensor:
    rng = np.random.default_rng(0)
    images = rng.integers(20, 60, size=(n, 1, SIZE, SIZE)).astype(np.uint8)
    images[:, :, 12:20, 12:20] = 230  # a bright centre: called malignant
    return torch.from_numpy(images)


def _maps(n: int, centre: bool) -> np.ndarray:
    maps = np.zeros((n, 8, 8), np.float32)
    if centre:
        maps[:, 3:5, 3:5] = 1
    else:
        maps[:, 0:2, 0:2] = 1
    return maps


@pytest.mark.parametrize("score", [road_scores, confidence_change])
def test_a_map_on_what_the_model_uses_scores_higher(score):
    model, images = CentreReader().eval(), _images(4)
    assert torch.softmax(model(grey_to_input(images.float() / 255)), 1)[:, 1].min() > 0.9
    right = score(model, images, _maps(4, True), [True] * 4)
    wrong = score(model, images, _maps(4, False), [True] * 4)
    assert right.shape == (4,)
    assert np.all(right > wrong)


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="3 maps"):
        road_scores(CentreReader(), _images(4), _maps(3, True), [True] * 4)


@pytest.mark.parametrize("malignant", [True, False])
def test_a_confidence_the_caller_has_gives_the_librarys_own_change(malignant):
    """A map's own forward pass already gave the image's confidence: passing it must not
    change the score, only save the library's forward pass of the image."""
    model, images = CentreReader().eval(), _images(4)
    with torch.no_grad():
        malignant_prob = torch.softmax(model(grey_to_input(images.float() / 255)), 1)[:, 1]
    confidence = (malignant_prob if malignant else 1 - malignant_prob).numpy()
    maps, calls = _maps(4, False), [malignant] * 4  # the map hides the centre: a change
    library = confidence_change(model, images, maps, calls)
    assert np.abs(library).max() > 0.01
    assert confidence_change(model, images, maps, calls, confidence) == pytest.approx(library,
                                                                                     abs=1e-6)
