"""Training profiles: ``quick`` (a 2-core CPU, minutes) and ``paper`` (the study's setting, a GPU).

quick: 64 px, batch 32, fold 0 of the training split for early stopping and the threshold;
the early-stopped model is the final one (no refit). Epoch caps per architecture keep all six
within 30 minutes on 2 cores (ViT and VGG16 cost 5-7x ResNet50 per image there).

paper: 224 px, batch 32, 30 epochs with a fixed schedule for every fold model (its out-of-fold
predictions choose the threshold) and for the final model, refit on all training cases;
bf16 autocast and channels_last on CUDA, the data set held on the device.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from core.errors import UserError
from core.models.augment import Augmentation
from core.models.registry import spec

PROFILES = ("quick", "paper")

# Learning rates for AdamW: (from ImageNet, from scratch). Nets without batch norm (AlexNet,
# VGG16) and ViT need smaller steps from scratch.
LEARNING_RATES = {
    "resnet50": (3e-4, 1e-3), "googlenet": (3e-4, 1e-3), "densenet121": (3e-4, 1e-3),
    "alexnet": (1e-4, 1e-4), "vgg16": (5e-5, 1e-4), "vit_b_16": (5e-5, 1e-4),
}
QUICK_EPOCHS = {"resnet50": 24, "googlenet": 24, "alexnet": 24, "densenet121": 16,
                "vgg16": 10, "vit_b_16": 8}


@dataclass(frozen=True)
class Profile:
    name: str
    image_size: int
    batch_size: int
    epochs: int
    early_stopping: bool          # quick: stop on fold 0; paper: fixed schedule
    patience: int
    warmup_epochs: int
    weight_decay: float
    grad_clip: float
    amp: bool                     # bf16 autocast (CUDA only)
    channels_last: bool
    precise_bn: bool = True       # batch-norm statistics recomputed before each evaluation
    augmentation: Augmentation = field(default_factory=Augmentation)

    def as_dict(self) -> dict:
        return asdict(self)


def profile_for(name: str, arch: str, epochs: int | None = None, image_size: int | None = None,
                cuda: bool = False) -> Profile:
    """The settings for ``arch`` under profile ``name``, with the user's overrides."""
    spec(arch)
    convolutional = arch != "vit_b_16"  # channels_last: 1.3-2.5x faster CNN training on CPUs too
    if name == "quick":
        chosen = Profile("quick", 64, 32, QUICK_EPOCHS[arch], True, 5, 1, 1e-4, 2.0,
                         amp=False, channels_last=convolutional)
    elif name == "paper":
        chosen = Profile("paper", 224, 32, 30, False, 0, 2, 1e-4, 2.0,
                         amp=cuda, channels_last=convolutional)
    else:
        raise UserError(f"--profile must be one of {', '.join(PROFILES)} (got {name!r})")
    if epochs is not None:
        if epochs < 1:
            raise UserError(f"--epochs must be at least 1 (got {epochs})")
        chosen = replace(chosen, epochs=epochs)
    if image_size is not None:
        if image_size < 32:
            raise UserError(f"--image-size must be at least 32 (got {image_size})")
        chosen = replace(chosen, image_size=image_size)
    if arch == "vit_b_16" and chosen.image_size % 16:
        raise UserError(f"ViT needs an image size that is a multiple of 16 "
                        f"(got {chosen.image_size})")
    return chosen


def learning_rate(arch: str, imagenet: bool) -> float:
    return LEARNING_RATES[arch][0 if imagenet else 1]
