"""Image generators for data-free model extraction: noise → image in the dataset's normalised range.

Registered by name in ``GENERATORS``; ``build_generator(name, ...)`` builds one. A generator exposes
``pre_images(z)`` (unbounded pre-activations) and ``squash(pre)`` (pre-activation → normalised image), so
an attacker can perturb inputs *before* the squashing and every perturbed query stays a valid image.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn


class ConvGenerator(nn.Module):
    """z (nz) → linear → C0×s×s (s = image_size/4) → 2× (upsample ×2, conv, BN, LeakyReLU) → conv → tanh.

    tanh's [-1, 1] is mapped to raw pixel values [0, 1] and then normalised with the dataset's mean/std, so the
    generator's images live exactly where real (normalised) images do.
    """

    def __init__(self, nz: int, out_channels: int, image_size: int, mean: Sequence[float], std: Sequence[float],
                 width: int = 64):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"ConvGenerator needs an image size divisible by 4, got {image_size}")
        if len(mean) not in (1, out_channels) or len(std) not in (1, out_channels):
            raise ValueError(f"mean/std must have 1 or {out_channels} entries, got {len(mean)}/{len(std)}")
        self.nz, self.out_channels, self.image_size = int(nz), int(out_channels), int(image_size)
        self.init_size = image_size // 4
        c0 = 2 * width
        self.fc = nn.Linear(nz, c0 * self.init_size ** 2)
        self.body = nn.Sequential(
            nn.BatchNorm2d(c0),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(c0, c0, 3, 1, 1, bias=False), nn.BatchNorm2d(c0), nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(c0, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
            nn.Conv2d(width, out_channels, 3, 1, 1),
            nn.BatchNorm2d(out_channels, affine=False),  # keeps pre-activations in tanh's sensitive range
        )
        # buffers, not parameters: the normalisation is the dataset's, never learned
        self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([float(s) for s in std]).view(1, -1, 1, 1))

    def pre_images(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(len(z), -1, self.init_size, self.init_size)
        return self.body(h)

    def squash(self, pre: torch.Tensor) -> torch.Tensor:
        raw = (torch.tanh(pre) + 1) / 2  # raw pixel scale [0, 1]
        return (raw - self.mean) / self.std

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.squash(self.pre_images(z))

    def sample_noise(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Seeded standard-normal noise (drawn on the CPU so every device sees the same numbers)."""
        return torch.randn(n, self.nz, generator=gen).to(self.fc.weight.device)


def conv_generator(nz, out_channels, image_size, mean, std):
    return ConvGenerator(nz, out_channels, image_size, mean, std, width=64)


def conv_generator_small(nz, out_channels, image_size, mean, std):
    return ConvGenerator(nz, out_channels, image_size, mean, std, width=32)


GENERATORS = {"conv": conv_generator, "conv_small": conv_generator_small}


def build_generator(name: str, nz: int, out_channels: int, image_size: int, mean=(0.5,), std=(0.5,)) -> ConvGenerator:
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; choose one of {sorted(GENERATORS)}")
    if int(nz) < 1:
        raise ValueError(f"generator noise size must be ≥ 1, got {nz}")
    return GENERATORS[name](int(nz), out_channels, image_size, mean, std)
