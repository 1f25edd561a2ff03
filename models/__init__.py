"""Model registry: name → constructor(num_classes, in_channels, image_size). Every model has forward and features."""
from __future__ import annotations

from .resnet import CifarResNet, resnet8, resnet18, resnet20
from .vit import SmallViT, vit_small

MODELS = {"ResNet18": resnet18, "resnet20": resnet20, "resnet8": resnet8, "ViT": vit_small}


def canonical_name(name: str) -> str:
    for key in MODELS:
        if key.lower() == str(name).lower():
            return key
    raise ValueError(f"unknown network {name!r}; choose one of {sorted(MODELS)}")


def build_model(name: str, num_classes: int, in_channels: int = 3, image_size: int = 32):
    return MODELS[canonical_name(name)](num_classes=num_classes, in_channels=in_channels, image_size=image_size)


__all__ = ["MODELS", "build_model", "canonical_name", "CifarResNet", "SmallViT"]
