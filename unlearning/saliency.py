"""SalUn weight saliency masks: which weights an unlearning run may update.

The saliency of a weight is |g|, g the gradient of the forget loss (cross-entropy of D_f against the forget class's
output index) accumulated over D_f. All parameters are ranked jointly; the mask of ratio t keeps exactly
k = round_half_up(t·P) of the P entries (1 = may be updated, 0 = frozen). Ties are broken by the flat position in
``named_parameters()`` order (a stable sort of −|g|), so equal saliencies keep the earlier weight; the masks of
increasing ratios are therefore nested.

A mask file is a plain ``{param_name: float32 0/1 tensor}`` dict (``torch.load(weights_only=True)`` gives it back),
named ``mask_<t>.pt``; it is what ``Regulariser(model, mask=...)`` in unlearning/training.py takes. A ``masks.json``
next to the files records the network, dataset, forget class and kept counts.
"""
from __future__ import annotations

import math
import os
from typing import Dict, Iterable, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .evaluation import eval_mode
from .files import StagedOutput, atomic_write, file_fingerprint, torch_save_stable, write_json
from .paths import mask_filename

DEFAULT_RATIOS = tuple(round(0.1 * i, 1) for i in range(1, 11))


class MaskError(ValueError):
    """A mask file that is unreadable, malformed, or made for another network."""


# ----------------------------------------------------------------------------- saliency
def forget_gradient(model: nn.Module, batches: Iterable) -> Dict[str, torch.Tensor]:
    """Gradient of the mean cross-entropy over all samples of ``batches`` ((x, y) pairs), per parameter.

    The model is put in eval mode meanwhile (BatchNorm uses its running statistics and does not update them) and
    its gradients are left as they were.
    """
    params = dict(model.named_parameters())
    saved = {k: (None if p.grad is None else p.grad.clone()) for k, p in params.items()}
    total = {k: torch.zeros_like(p) for k, p in params.items()}
    n = 0
    try:
        with eval_mode(model):
            for x, y in batches:
                model.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y, reduction="sum").backward()
                for k, p in params.items():
                    if p.grad is not None:
                        total[k] += p.grad
                n += len(y)
    finally:
        for k, p in params.items():
            p.grad = saved[k]
    if n == 0:
        raise ValueError("the forget set is empty: no gradient to rank")
    for k, g in total.items():
        if not torch.isfinite(g).all():
            raise ValueError(f"the forget-loss gradient of {k} is NaN/inf")
    return {k: g / n for k, g in total.items()}


def kept_count(ratio: float, total: int) -> int:
    """round(ratio·total), halves rounded up (Python's round() would round half to even)."""
    return int(math.floor(float(ratio) * total + 0.5))


def check_ratios(ratios) -> List[float]:
    ratios = [float(r) for r in ratios]
    if not ratios:
        raise ValueError("no mask ratios given")
    for r in ratios:
        if not 0.0 < r <= 1.0 or not math.isfinite(r):
            raise ValueError(f"mask ratio {r} is outside (0, 1]")
    return ratios


def saliency_masks(grads: Dict[str, torch.Tensor], ratios=DEFAULT_RATIOS) -> Dict[float, Dict[str, torch.Tensor]]:
    """{ratio: {param_name: 0/1 float32 tensor}} keeping the top-k |g| over all parameters jointly."""
    ratios = check_ratios(ratios)
    if not grads:
        raise ValueError("no gradients given")
    names = list(grads)
    flat = torch.cat([grads[k].detach().reshape(-1).abs().float().cpu() for k in names])
    if not torch.isfinite(flat).all():
        raise ValueError("gradients contain NaN/inf")
    order = torch.sort(-flat, stable=True).indices  # descending |g|; ties keep the lower flat index first
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))
    sizes = [grads[k].numel() for k in names]
    out = {}
    for r in ratios:
        keep = (rank < kept_count(r, len(flat))).float()
        out[r] = {k: part.reshape(grads[k].shape).clone() for k, part in zip(names, torch.split(keep, sizes))}
    return out


# ----------------------------------------------------------------------------- files
def save_masks(masks: Dict[float, Dict[str, torch.Tensor]], out_dir: str, meta: Optional[dict] = None,
               whole: bool = False) -> List[str]:
    """One ``mask_<t>.pt`` per ratio plus ``masks.json``, moved into ``out_dir`` together once all are written
    (``whole``: the folder is the masks' own and is replaced as a whole); returns the mask paths."""
    paths, summary = [], {}
    with StagedOutput(out_dir, whole=whole) as stage:  # all masks of a rerun appear together, or none
        for r, mask in masks.items():
            name = mask_filename(r)
            state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in mask.items()}
            atomic_write(stage.path(name), lambda tmp, s=state: torch_save_stable(s, tmp))
            total = sum(v.numel() for v in state.values())
            summary[name] = {"ratio": r, "kept": int(sum(v.sum().item() for v in state.values())), "total": total,
                             "fingerprint": file_fingerprint(stage.path(name))}
            paths.append(stage.final(name))
        write_json(stage.path("masks.json"), dict(meta or {}, files=summary))
        stage.commit()
    return paths


def load_mask(path: str, model: nn.Module) -> Dict[str, torch.Tensor]:
    """A mask file checked against ``model``: one 0/1 tensor per parameter, same names and shapes.

    Returns float tensors on the parameters' devices and dtypes (ready for ``Regulariser(model, mask=...)``).
    """
    if not os.path.isfile(path):
        raise MaskError(f"mask file {path} does not exist (make it with saliency_mu/generate_mask.py)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise MaskError(f"mask file {path} is truncated or not a mask ({type(err).__name__})")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MaskError(f"mask file {path} is not a {{param_name: tensor}} dict")
    params = dict(model.named_parameters())
    missing, extra = sorted(set(params) - set(state)), sorted(set(state) - set(params))
    if missing or extra:
        raise MaskError(f"mask {path} was made for another network: "
                        + (f"no entry for {missing[:3]}" if missing else f"unknown parameters {extra[:3]}"))
    out = {}
    for k, p in params.items():
        m = state[k]
        if m.shape != p.shape:
            raise MaskError(f"mask {path} was made for another network: {k} has shape {tuple(m.shape)}, "
                            f"the model's weight has {tuple(p.shape)}")
        if not ((m == 0) | (m == 1)).all():
            raise MaskError(f"mask {path}: entries of {k} are not all 0 or 1")
        out[k] = m.to(p.device, p.dtype)
    return out
