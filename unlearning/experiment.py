"""Shared plumbing: argument parser, device and seeds, run folders, atomic writes, checkpoints, results.json."""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from typing import Optional

import numpy as np
import torch

import config
from datasets import build_split, get_dataset_info, load_dataset
from models import build_model, canonical_name


class CheckpointError(ValueError):
    """A checkpoint that is unreadable or made for another dataset / network / class list."""


# ----------------------------------------------------------------------------- arguments, device, seeds
def base_parser(description: str, dataset: Optional[str] = None) -> argparse.ArgumentParser:
    """Flags every script shares. Paper spellings (``-net``) and double-dash aliases (``--net``) both work."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("-dataset", "--dataset", default=dataset or "digits", help="dataset registry name")
    p.add_argument("-net", "--net", default=None, help="model registry name (default: the dataset preset's)")
    p.add_argument("-classes", "--classes", type=int, default=None,
                   help="number of classes of the dataset (checked against the registry)")
    p.add_argument("-seed", "--seed", type=int, default=0, help="seed for every random choice of the run")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:i")
    p.add_argument("--data_root", default=config.DATA_ROOT, help="folder holding the real datasets")
    p.add_argument("--download", action="store_true", help="download CIFAR if missing (user machines only)")
    p.add_argument("--log_root", default=config.LOG_ROOT, help="where runs write checkpoints and logs")
    speed = p.add_argument_group("GPU speed (no effect on the CPU)")
    speed.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                       help="bf16 autocast (default: on for CUDA)")
    speed.add_argument("--channels_last", action=argparse.BooleanOptionalAction, default=None,
                       help="channels_last memory format (default: on for CUDA)")
    speed.add_argument("--compile", action="store_true", help="torch.compile the supervised training forward")
    return p


_SPEED_FLAGS = {}  # the parsed --amp/--channels_last/--compile of this process (finish_args)


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fill preset defaults and validate the dataset/net/classes triple; exits with one clear line on error."""
    try:
        info = get_dataset_info(args.dataset)
        args.dataset = info.name
        args.net = canonical_name(args.net or config.preset(info.name)["net"])
        if args.classes is not None and args.classes != info.num_classes:
            raise ValueError(f"-classes {args.classes} does not match {info.name}, which has {info.num_classes} classes")
    except ValueError as err:
        sys.exit(f"error: {err}")
    _SPEED_FLAGS.update({k: getattr(args, k) for k in ("amp", "channels_last", "compile") if hasattr(args, k)})
    return args


def resolve_device(spec: str = "auto") -> torch.device:
    """A known and present device; anything else is a ValueError with one clear line."""
    spec = (spec or "auto").lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except (RuntimeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {spec}: unknown device (use auto, cpu, cuda or cuda:<i>)")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"--device {spec}: MPS is not available on this machine")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {spec}: CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)")
    return dev


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def generator(seed: int) -> torch.Generator:
    """CPU generator: random draws are identical whatever the device."""
    return torch.Generator().manual_seed(int(seed))


# ----------------------------------------------------------------------------- experiment setup
class Experiment:
    """Dataset + class split + device for one run; data stays compact (uint8) on the device."""

    def __init__(self, dataset, data_root="data", download=False, device="auto", forget_class=None,
                 ood_classes=None, val_fraction=None, subclass=False, forget_fine=None, ood_fine=None):
        self.info, train, test = load_dataset_or_explain(dataset, data_root, download)
        pre = config.preset(self.info.name)
        self.preset = pre
        if subclass and "subclass" not in pre:
            raise ValueError(f"{self.info.name} has no sub-class setting (config.PRESETS[...]['subclass'])")
        self.subclass = bool(subclass)
        self.device = resolve_device(device) if isinstance(device, str) else device
        sub = pre.get("subclass", {}) if subclass else {}
        if ood_classes is None:
            ood_classes = sub.get("ood_classes", pre["ood_classes"])
        if subclass:  # forget_fine None: no forget class (pretraining)
            ood_fine = sub.get("ood_fine", []) if ood_fine is None else ood_fine
        self.split = build_split(
            self.info.name, train, test, self.info.num_classes, ood_classes,
            forget_class=forget_class, val_fraction=pre.get("val_fraction", 0.1) if val_fraction is None else val_fraction,
            forget_fine=forget_fine, ood_fine=ood_fine,
        )
        self.train = train.to(self.device)
        self.test = test.to(self.device)
        from .training import configure_speed
        self.speed = configure_speed(self.device, **_SPEED_FLAGS)

    def new_model(self, net: str):
        from .training import to_speed_layout
        model = build_model(net, self.split.num_outputs, self.info.in_channels, self.info.image_size).to(self.device)
        return to_speed_layout(model)

    def model_meta(self, net: str, **extra) -> dict:
        meta = dict(self.split.metadata(), arch=canonical_name(net), setting=setting_name(self.subclass),
                    in_channels=self.info.in_channels, image_size=self.info.image_size)
        meta.update(extra)
        return meta


# ----------------------------------------------------------------------------- files
def atomic_write(path: str, write) -> str:
    """Write via ``write(tmp_path)`` then rename: readers never see a half-written file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="tmp-", suffix=".part", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~process_umask())  # mkstemp makes 0600; the file gets the mode open() would give it
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def atomic_write_text(path: str, text: str) -> str:
    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write(text)
    return atomic_write(path, write)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.tolist())
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    return str(obj)


def write_json(path: str, data: dict) -> str:
    return atomic_write_text(path, json.dumps(_jsonable(data), indent=2) + "\n")


def read_json(path: str) -> dict:
    with open(path) as fh:
        return json.load(fh)


def write_tsv(path: str, rows: list, columns: list) -> str:
    def fmt(v):
        return f"{v:.6g}" if isinstance(v, float) else str(v)
    lines = ["\t".join(columns)] + ["\t".join(fmt(r.get(c, "")) for c in columns) for r in rows]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def fmt_param(value) -> str:
    """A parameter as it appears in a folder name (stable, filesystem-safe)."""
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace(os.sep, "_").replace(" ", "")


def seed_field(seed) -> str:
    """The seed as every folder name spells it: seed-<s>."""
    return f"seed-{seed}"


def pretrain_dir(log_root: str, dataset: str, net: str, seed: int = 0, l1: float = 0.0, subclass: bool = False) -> str:
    """log_files/<dataset>/<net>/pretrain/seed-<s>[_l1-<λ>][_subclass]"""
    name = seed_field(seed) + (f"_l1-{fmt_param(float(l1))}" if l1 else "") + ("_subclass" if subclass else "")
    return os.path.join(log_root, dataset, canonical_name(net), "pretrain", name)


def forget_dir(log_root: str, dataset: str, net: str, forget) -> str:
    """log_files/<dataset>/<net>/forget_<class>: every run and stage result about one forget class."""
    return os.path.join(log_root, dataset, canonical_name(net), f"forget_{forget}")


def unlearn_dir(log_root, dataset, net, forget, method, para1=None, para2=None, mask=None, seed=0, extra=None,
                source=None) -> str:
    """log_files/<dataset>/<net>/forget_<class>/<method>/p1-<para1>_p2-<para2>_mask-<mask>_seed-<s>[_<extra>][_src-<fp>]

    ``forget`` is the forget class id (or ``fine<id>`` in the sub-class setting); ``mask`` is the mask file's
    stem; ``extra`` (e.g. ``{"l1": 5e-5}``) adds further identifying options in a fixed order; ``source`` (the
    content fingerprint of a source model other than the default pretrained one) ends the name.
    """
    mask_name = os.path.splitext(os.path.basename(mask))[0] if mask else "none"
    leaf = f"p1-{fmt_param(para1)}_p2-{fmt_param(para2)}_mask-{fmt_param(mask_name)}_{seed_field(seed)}"
    for key in sorted(extra or {}):
        if extra[key] not in (None, 0, 0.0, False, ""):
            leaf += f"_{key}-{fmt_param(extra[key])}"
    if source:
        leaf += f"_src-{source}"
    return os.path.join(forget_dir(log_root, dataset, net, forget), method, leaf)


# ----------------------------------------------------------------------------- checkpoints
def setting_name(subclass: bool) -> str:
    return "subclass" if subclass else "fullclass"


META_KEYS_CHECKED = ("dataset", "arch", "trained_classes", "ood_classes", "ood_fine")


def save_checkpoint(path: str, model: torch.nn.Module, meta: dict) -> str:
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "meta": _jsonable(meta)}
    return atomic_write(path, lambda tmp: torch_save_stable(payload, tmp))


def torch_save_stable(obj, path: str) -> None:
    """``torch.save`` through a file object: the archive inside then has a fixed name instead of the (random)
    temporary file's, so the same content gives the same bytes and the same fingerprint."""
    with open(path, "wb") as fh:
        torch.save(obj, fh)


def load_checkpoint(path: str, map_location="cpu", expect: Optional[dict] = None):
    """(state_dict, meta), with ``weights_only=True``; a bad file or a metadata mismatch is a CheckpointError."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} does not exist (pretrain first, or pass the right -weight_path)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, pickle garbage, foreign objects
        raise CheckpointError(f"checkpoint {path} is truncated or not a checkpoint of this project ({type(err).__name__})")
    if not isinstance(payload, dict) or "state_dict" not in payload or "meta" not in payload:
        raise CheckpointError(f"checkpoint {path} has no state_dict/meta: not a checkpoint of this project")
    meta = payload["meta"]
    if expect and "setting" in expect:
        made_for = meta.get("setting") or setting_name(bool(meta.get("ood_fine")))
        if made_for != expect["setting"]:
            fix = ("pretrain_model_<dataset>.py --subclass" if expect["setting"] == "subclass"
                   else "pretrain_model_<dataset>.py without --subclass")
            raise CheckpointError(f"checkpoint {path} is a {made_for} model; this {expect['setting']} run needs one "
                                  f"from {fix}")
    for key in META_KEYS_CHECKED if expect else ():
        if key in expect and meta.get(key) != expect[key]:
            raise CheckpointError(
                f"checkpoint {path} was made for {key}={meta.get(key)!r}, but this run needs {key}={expect[key]!r}"
            )
    return payload["state_dict"], meta


def load_model(path: str, exp: Experiment, net: Optional[str] = None, strict_meta: bool = True):
    """A model built from a checkpoint's metadata, checked against the experiment's split."""
    expect = exp.model_meta(net or "resnet8") if strict_meta else None
    if expect is not None and net is None:
        expect.pop("arch")
    state, meta = load_checkpoint(path, map_location=exp.device, expect=expect)
    model = exp.new_model(meta["arch"])
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not fit {meta['arch']}: {str(err).splitlines()[0]}")
    return model, meta


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


# ----------------------------------------------------------------------------- identity of an unlearning run
def add_run_identity_args(p: argparse.ArgumentParser, subclass: bool = False) -> argparse.ArgumentParser:
    """The arguments that name one unlearning run (and so its folder); shared by unlearning, attack and metrics."""
    p.add_argument("-method", "--method", default="baseline", help="unlearning method registry name")
    if subclass:
        p.add_argument("--forget_fine", "--forget_class", dest="forget_fine", type=int, default=None,
                       help="fine class to forget (default: the preset's)")
    else:
        p.add_argument("--forget_class", "-forget_class", type=int, default=None,
                       help="class to forget (default: the preset's)")
    p.add_argument("--para1", type=float, default=None, help="method knob 1 (see forget_full_class_strategies.py)")
    p.add_argument("--para2", type=float, default=None, help="method knob 2")
    p.add_argument("--mask_path", default=None, help="SalUn mask file (from saliency_mu/generate_mask.py)")
    p.add_argument("--l1", type=float, default=0.0, help="λ of an added λ‖θ‖₁ term")
    p.add_argument("--l2", type=float, default=0.0, help="λ of an added λ‖θ−θ₀‖² term (towards the pretrained weights)")
    p.add_argument("-weight_path", "--weight_path", default=None,
                   help="checkpoint to load: the pretrained model the run starts from (default: "
                        "log_files/<dataset>/<net>/pretrain/seed-0/model.pt)")
    p.add_argument("--settings", default=None, type=json_object,
                   help="JSON object merged over the method's settings (e.g. '{\"epochs\": 1}'); the run folder "
                        "name gets a hash of it")
    p.add_argument("--recipe", default=None, metavar="FILE",
                   help='JSON file (or inline object) {"UNLEARN": {method: {...}}, "OVER_UNLEARN": {method: {...}, '
                        '"replay": {...}, "orth": {...}}} merged over config for every dataset; the run folder name '
                        'gets a hash of its content (_rcp-<hash>)')
    return p


def json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err}")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def settings_tag(settings: Optional[dict]) -> Optional[str]:
    """Short stable hash of a --settings override (None without one)."""
    if not settings:
        return None
    import hashlib
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]


def forget_name(args) -> str:
    fine = getattr(args, "forget_fine", None)
    return f"fine{fine}" if fine is not None else str(args.forget_class)


def run_dir_from_args(args) -> str:
    """The unlearning run folder named by the (resolved) identity arguments: see ``unlearning.run_identity``."""
    from .run_identity import RunIdentity
    return RunIdentity.of(args).run_dir


def default_weight_path(args, seed: int = 0, l1: float = 0.0) -> str:
    """The pretrained checkpoint of the run's setting (the sub-class one when the run forgets a fine class)."""
    from .run_identity import pretrained_path
    return pretrained_path(args.log_root, args.dataset, args.net, seed, l1,
                           subclass=getattr(args, "forget_fine", None) is not None)


# ----------------------------------------------------------------------------- inputs checked before computing
class OutputError(ValueError):
    """An output folder that cannot be written (bad path, no permission): reported before any computation."""


def process_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux /proc)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def load_dataset_or_explain(dataset, data_root, download):
    """``load_dataset``, with a failed download (no network, refused, truncated) as one clear ValueError."""
    try:
        return load_dataset(dataset, data_root, download)
    except FileNotFoundError:
        raise
    except OSError as err:  # urllib's URLError, socket and SSL errors are OSErrors
        if not download:
            raise
        reason = getattr(err, "reason", None) or err.strerror or err
        raise ValueError(f"--download could not fetch {dataset} into {os.path.abspath(data_root)} ({reason}); "
                         f"check the network, or put the dataset there by hand")


def check_output_dir(path: str, what: str = "output folder") -> str:
    """Raise OutputError unless ``path`` can be created and written: every name within the file system's limit,
    the nearest existing ancestor a writable folder (probed by creating a folder in it, which also covers
    read-only mounts and dropped capabilities)."""
    full = os.path.abspath(path)
    probe = full
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    try:
        name_max = os.pathconf(probe if os.path.isdir(probe) else os.path.dirname(probe), "PC_NAME_MAX")
        path_max = os.pathconf(probe if os.path.isdir(probe) else os.path.dirname(probe), "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    # a staging sibling (".staging-<pid>-<random>") and file names inside must fit too
    for part in full.split(os.sep):
        if len(part.encode()) > name_max:
            raise OutputError(f"{what} {path}: the folder name {part[:40]}… has {len(part.encode())} bytes, "
                              f"more than the file system allows ({name_max})")
    if len(full.encode()) + 64 > path_max:
        raise OutputError(f"{what} {path}: the path is {len(full.encode())} bytes long, too long for the file "
                          f"system ({path_max})")
    if not os.path.isdir(probe):
        raise OutputError(f"{what} {path}: {probe} exists and is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=probe))
    except OSError as err:
        raise OutputError(f"{what} {path}: cannot write in {probe} ({err.strerror or err})")
    return path


# ----------------------------------------------------------------------------- replacing a finished result
STAGING_PREFIX = ".staging-"
_RENAME_EXCHANGE = 2


def _exchange(a: str, b: str) -> bool:
    """Swap two existing paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd = -100
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_staging(parent: str) -> None:
    """Delete staging folders left in ``parent`` by processes that no longer run (killed mid-stage)."""
    import shutil
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(STAGING_PREFIX):
            continue
        pid = name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


class StagedOutput:
    """A stage's outputs, built in a temporary sibling folder and moved into ``final_dir`` only by ``commit()``.

    ``whole=True``: the stage owns ``final_dir``; commit swaps the new folder for the old one, so everything the
    old folder held (results computed on the old model, e.g. rea/ under an unlearning run) goes with it.
    ``whole=False`` (a folder the user named, which may hold other files): the staging folder is made inside it
    and commit moves the new files out of it one by one, results.json last. Leaving the ``with`` block without ``commit()`` (an error, Ctrl-C) deletes the staging
    folder and leaves ``final_dir`` exactly as it was; a SIGKILL leaves the staging folder, which the next stage
    writing into the same parent deletes.
    """

    def __init__(self, final_dir: str, whole: bool = True):
        self.final_dir = final_dir
        self.whole = whole
        # whole: a sibling of the folder; otherwise beside the old files, inside the folder
        parent = os.path.dirname(os.path.abspath(final_dir)) if whole else os.path.abspath(final_dir)
        os.makedirs(parent, exist_ok=True)
        remove_stale_staging(parent)
        self.dir = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=parent)
        os.chmod(self.dir, 0o777 & ~process_umask())
        self.committed = False

    def path(self, name: str) -> str:
        """Where to write ``name`` now."""
        return os.path.join(self.dir, name)

    def final(self, name: str) -> str:
        """Where ``name`` will be once committed (the path to record in results)."""
        return os.path.join(self.final_dir, name)

    def commit(self) -> str:
        import shutil
        final = os.path.abspath(self.final_dir)
        if self.whole:
            if not os.path.lexists(final):
                os.rename(self.dir, final)
            elif os.path.isdir(final) and not os.path.islink(final) and _exchange(self.dir, final):
                shutil.rmtree(self.dir, ignore_errors=True)  # now holds the old folder
            else:
                # no atomic exchange here: a kill between the two renames leaves the old run in .replaced-*
                old = tempfile.mkdtemp(prefix=f".replaced-{os.getpid()}-", dir=os.path.dirname(final))
                os.rename(final, os.path.join(old, "old"))
                os.rename(self.dir, final)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.makedirs(final, exist_ok=True)
            for name in sorted(os.listdir(self.dir), key=lambda n: (n == "results.json", n)):
                target = os.path.join(final, name)
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                os.replace(os.path.join(self.dir, name), target)
            os.rmdir(self.dir)
        self.committed = True
        return self.final_dir

    def discard(self) -> None:
        import shutil
        if not self.committed:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.discard()
        return False


def finished_result(folder: str) -> bool:
    """True when ``folder`` holds a results.json with status "done"."""
    try:
        data = read_json(os.path.join(folder, "results.json"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("status") == "done"
