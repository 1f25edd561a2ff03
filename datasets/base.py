"""In-memory image data: raw pixels kept compact, normalised per batch on the device."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import torch


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing; the message says where to put them."""


@dataclass
class ImageData:
    """N images with their original class ids (and fine ids where the dataset has them).

    ``x`` holds raw pixels (uint8, N×C×H×W); ``scale`` maps them to [0, 1] before ``mean``/``std``.
    """

    x: torch.Tensor
    y: torch.Tensor
    fine: Optional[torch.Tensor] = None
    scale: float = 255.0
    mean: Sequence[float] = (0.5,)
    std: Sequence[float] = (0.5,)
    class_names: Optional[list] = None
    group: Optional[torch.Tensor] = None  # source-image id of augmented copies (held out together)
    _norm: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # device → (mean, std)

    def __post_init__(self):
        if self.x.ndim != 4:
            raise ValueError(f"images must be N×C×H×W, got shape {tuple(self.x.shape)}")
        if len(self.x) != len(self.y):
            raise ValueError("images and labels differ in length")
        self.y = self.y.long()
        if self.fine is not None:
            self.fine = self.fine.long()

    def __len__(self) -> int:
        return len(self.y)

    @property
    def shape(self):
        return tuple(self.x.shape[1:])

    def to(self, device) -> "ImageData":
        """A copy on ``device`` (labels move too, so indexing stays on one device)."""
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return ImageData(x=move(self.x), y=move(self.y), fine=move(self.fine), scale=self.scale,
                         mean=self.mean, std=self.std, class_names=self.class_names, group=move(self.group))

    def normalize(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw pixels (any device) → float, normalised per channel."""
        if raw.device not in self._norm:  # built once per device: no host-to-device copy per batch
            self._norm[raw.device] = (torch.tensor(self.mean, dtype=torch.float32, device=raw.device).view(1, -1, 1, 1),
                                      torch.tensor(self.std, dtype=torch.float32, device=raw.device).view(1, -1, 1, 1))
        mean, std = self._norm[raw.device]
        return (raw.float() / self.scale - mean) / std


@dataclass
class DatasetInfo:
    """A registry entry: how to load a dataset and what its images look like."""

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    load: Callable[..., tuple]  # (data_root, download, **options) -> (train ImageData, test ImageData)
    has_fine: bool = False
    description: str = ""
    options: dict = field(default_factory=dict)
    # (data_root, download) -> None; raises DatasetNotFoundError when the files are missing (no loading)
    locate: Optional[Callable[..., None]] = None

