"""CIFAR-style ResNets: 3×3 stem, no max-pool, global average pooling before the classifier."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """``blocks[i]`` basic blocks of width ``widths[i]``; every stage after the first halves the resolution."""

    def __init__(self, blocks, widths, num_classes, in_channels=3):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        stages, c_in = [], widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths)):
            layers = []
            for j in range(n):
                layers.append(BasicBlock(c_in, w, 2 if (i > 0 and j == 0) else 1))
                c_in = w
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(c_in, num_classes)
        self.feature_dim = c_in

    def stage_outputs(self, x):
        """Output of every stage (used by feature-level penalties)."""
        outs, h = [], self.stem(x)
        for stage in self.stages:
            h = stage(h)
            outs.append(h)
        return outs

    def features(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(self.stage_outputs(x)[-1], 1), 1)

    def forward(self, x):
        return self.fc(self.features(x))


def resnet18(num_classes, in_channels=3, image_size=32):
    return CifarResNet([2, 2, 2, 2], [64, 128, 256, 512], num_classes, in_channels)


def resnet20(num_classes, in_channels=3, image_size=32):
    return CifarResNet([3, 3, 3], [16, 32, 64], num_classes, in_channels)


def resnet8(num_classes, in_channels=3, image_size=32):
    return CifarResNet([1, 1, 1], [16, 32, 64], num_classes, in_channels)
