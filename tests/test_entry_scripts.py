"""Every top-level script's -h: exits 0 without importing torch, one "(default:" per flag, the preset's value where a
flag's default comes from a preset (never "None"), help text for every flag; run.py's paper spellings parse."""
from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys

import pytest

import config
from unlearning.cli import parsers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = sorted([os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "*.py"))] +
                 ["saliency_mu/generate_mask.py"])
SCRIPTS.remove("config.py")


def _help(script: str) -> str:
    proc = subprocess.run([sys.executable, script, "-h"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _flag_blocks(text: str):
    """(flag line, its help text) per option of an argparse help page."""
    blocks, current = [], None
    for line in text.splitlines():
        if re.match(r"^  -", line):
            current = [line.strip(), line]
            blocks.append(current)
        elif current is not None and line.startswith("    "):
            current[1] += " " + line.strip()
        else:
            current = None
    return [(b[0], b[1]) for b in blocks]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_exits_0_with_one_default_per_flag_and_no_none(script):
    text = _help(script)
    assert "usage:" in text
    assert "default: None" not in text
    for flag, block in _flag_blocks(text):
        assert block.count("default:") <= 1, block
    assert "settings below" not in text and "settings above" not in text


def test_parsers_import_no_torch():
    """-h answers before torch loads: the parser module and every script's imports before parsing stay torch-free."""
    code = ("import sys; import unlearning.cli.parsers; import run; "
            "bad = [m for m in ('torch', 'numpy', 'datasets', 'models') if m in sys.modules]; "
            "sys.exit(', '.join(bad) or None)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"imported: {proc.stderr.strip()}"


def _parsers():
    out = []
    for ds in ("digits", "cifar20", "cifar100", "imagenet64"):
        out += [parsers.pretrain_parser(ds), parsers.unlearn_parser(ds), parsers.rea_parser(ds), parsers.dfme_parser(ds),
                parsers.quality_parser(ds)]
    out += [parsers.unlearn_parser("cifar20", True), parsers.rea_parser("cifar20", True),
            parsers.blackbox_rea_parser("digits"), parsers.distribution_parser(), parsers.masks_parser(),
            parsers.methods_parser(), parsers.report_parser()]
    return out


def test_every_flag_has_help_and_preset_values_are_shown():
    for p in _parsers():
        for action in p._actions:
            assert action.help, f"{p.prog}: {action.option_strings} has no help"
    text = parsers.rea_parser("cifar100").format_help()
    assert f"{config.REA['cifar100']['unlearn_data_percent']:g} on cifar100" in text
    text = parsers.pretrain_parser("digits").format_help()
    recipe = config.PRESETS["digits"]["pretrain"]
    assert f"{recipe['lr']:g} on digits" in text and " ".join(map(str, recipe["milestones"])) in text
    text = " ".join(parsers.dfme_parser("digits").format_help().split())
    assert f"config.DFME's, {config.DFME['digits']['query_budget']} on digits" in text
    assert "ResNet18 on cifar20" in parsers.unlearn_parser("cifar20").format_help()


def test_copied_names_match_their_owners():
    from models.generator import GENERATORS
    from unlearning.attacks import extraction
    from unlearning.cli import quality
    from unlearning.metrics import quality as Q
    from unlearning.metrics.representation import FEATURE_KINDS
    from unlearning.pipeline import launcher
    from unlearning.saliency import DEFAULT_RATIOS

    assert parsers.FEATURE_KINDS == FEATURE_KINDS and parsers.DEFAULT_RATIOS == DEFAULT_RATIOS
    assert parsers.VICTIM_OUTPUTS == extraction.VICTIM_OUTPUTS and parsers.VICTIM_FILE == extraction.VICTIM_FILE
    assert set(parsers.GENERATOR_NAMES) == set(GENERATORS)
    assert (parsers.DEFAULT_CONFIDENCE, parsers.DEFAULT_MAX_FPR) == (Q.DEFAULT_CONFIDENCE, Q.DEFAULT_MAX_FPR)
    assert parsers.QUALITY_REFERENCES == quality.REFERENCES
    assert parsers.launcher_stages() == launcher.STAGES
    assert set(parsers.DFME_KEYS) - {"victim_output"} <= set(extraction.dfme_defaults("digits"))


def _options(p: argparse.ArgumentParser):
    return sorted(s for a in p._actions for s in a.option_strings)


@pytest.mark.slow
def test_script_parsers_take_the_flags_their_stages_take():
    """Where a stage module keeps its own parser (quality, report), the torch-free one has the same flags."""
    from unlearning.cli import quality

    for ds in ("digits", "cifar20"):
        assert _options(parsers.quality_parser(ds)) == _options(quality.parser(ds))
    text = subprocess.run([sys.executable, "-c", "from unlearning.report import main; main(['-h'])"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120).stdout
    flags = sorted(set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", text.split("options:", 1)[1])))
    assert flags == sorted(set(_options(parsers.report_parser()))), flags


def test_run_py_takes_the_paper_spellings(tmp_path):
    import run

    args = run.parse_args(["-net", "resnet8", "-dataset", "digits", "-seed", "1", "2", "-method", "retrain",
                           "-classes", "10", "-forget_class", "3", "--dry_run"])
    assert (args.net, args.preset, args.seeds, args.methods, args.classes, args.forget_classes, args.dry_run) == \
        ("resnet8", "digits", [1, 2], ["retrain"], 10, [3], True)
    s = run.settings_from(run.parse_args(["-net", "resnet8", "-classes", "10", "--log_root", str(tmp_path)]))
    assert s["net"] == "resnet8" and s["n_classes"] == 10


@pytest.mark.slow
def test_run_py_dry_run_with_paper_flags_plans(tmp_path):
    proc = subprocess.run([sys.executable, "run.py", "-net", "resnet8", "--dry_run", "--stages", "pretrain",
                           "--log_root", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "pretrain_model_digits.py" in proc.stdout and "-net resnet8" in proc.stdout
