"""What an attack is to the launcher and the report: one registry entry.

An attack takes a run identity (the unlearning run's folder, found by its identity arguments) and a model of that
run, and writes ``<run folder>/<folder…>/<tag>/results.json`` (``folder`` may hold a ``*`` for one level named by
another stage, e.g. the extracted copy of the black-box attack). The entry says where its results are, which model
they were computed on (so the report can tell a stale result), its report table and how one results.json becomes
report rows. The algorithm stays in its module; its command line in ``unlearning/cli/``.
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence


@dataclass(frozen=True)
class Attack:
    name: str  # the launcher's stage and the report's table kind
    title: str  # the report table's heading
    folder: Sequence[str]  # path parts between the run folder and <tag>/results.json ("*": any one name)
    model: Callable[[str, dict, str], str]  # (results.json path, its content, run folder) -> the attacked checkpoint
    rows: Callable[[dict], List[dict]]  # a results.json -> report rows (the run's identity is added by the report)
    script: str = ""  # the per-dataset entry script, with {dataset} and {setting}
    fields: Dict[str, tuple] = field(default_factory=dict)  # report table: {column: (row key, scale, digits)}
    keys: Sequence[str] = ()  # row keys beyond the run identity that make separate table rows (ReA: "lr")
    # the attack matrix: (row label, row key, scale, digits, kind); kind "auc" (0.5 = chance, retrain's value is
    # what a trace-free model scores) or "accuracy" (compared with retrain's value)
    matrix: Sequence[tuple] = ()

    def matches(self, rel_parts: Sequence[str]) -> bool:
        """Whether ``rel_parts`` (a results.json path below the run folder, split) is one of this attack's."""
        pattern = list(self.folder) + ["*", "results.json"]
        return len(rel_parts) == len(pattern) and all(fnmatch.fnmatchcase(p, q) for p, q in zip(rel_parts, pattern))


ATTACKS: Dict[str, Attack] = {}


def register_attack(attack: Attack) -> Attack:
    if attack.name in ATTACKS:
        raise ValueError(f"attack {attack.name!r} is already registered")
    ATTACKS[attack.name] = attack
    return attack


def attack_of(results_path: str, run_dir: str) -> Optional[Attack]:
    """The registered attack whose results ``results_path`` (below ``run_dir``) is; None for anything else."""
    rel = os.path.relpath(results_path, run_dir).split(os.sep)
    for attack in ATTACKS.values():
        if attack.matches(rel):
            return attack
    return None


def run_checkpoint(path: str, res: dict, run_dir: str) -> str:
    """The attacked checkpoint of an attack on the unlearning run itself: the one its results.json names, in the
    run folder (default last.pt)."""
    ckpt = res.get("checkpoint") or (res.get("target") or {}).get("checkpoint") or "last.pt"
    return os.path.join(run_dir, os.path.basename(str(ckpt)))
