"""README's "one command per stage" block, run as written (in process, on a short digits pretraining, in a temporary
log root), then every folder and file of docs/pipeline.md's output layout is looked for where the layout says."""
import glob
import os
import re
import runpy
import shlex
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# what each script of the block needs to run here and fast: the temporary log root, the CPU, small budgets.
# A script the block names that is not listed here fails the test (say how to run it cheaply).
CHEAP = {
    "pretrain_model_digits.py": ["--quiet"],
    "saliency_mu/generate_mask.py": [],
    "forget_full_class_main_digits.py": [],
    "mia_on_mu_main_digits_fullclass.py": ["--repeats", "1", "--steps", "3", "--quiet"],
    "dfme_attack.py": ["--query_budget", "1792", "--quiet"],
    "mia_on_mu_main_digits_fullclass_blackbox.py": ["--query_budget", "1792", "--repeats", "1", "--steps", "3",
                                                    "--quiet"],
    "distribution_metric.py": ["--max_points", "120", "--quiet"],
    "rival_attack_main_digits.py": ["--relearn_steps", "2", "--relearn_eval_every", "1", "--quiet"],
    "forget_quality_main_digits.py": ["--repeats", "2", "--steps", "4", "--mix_batch", "2",
                                      "--unlearn_data_percent", "0.05", "--num_ood_dataset", "2", "--quiet"],
    "reproduce_tables.py": ["--quiet"],
    "forget_full_class_strategies.py": [],
}
NO_DEVICE = {"reproduce_tables.py", "forget_full_class_strategies.py"}  # scripts without --device / --log_root
NO_LOG_ROOT = {"forget_full_class_strategies.py"}


def readme_block():
    """The commands of README's "One command per stage" block: (script, argv) with comments dropped, an optional
    ``[...]`` part run both without and with it, and the "then the _blackbox script" comment as its own command."""
    text = open(os.path.join(ROOT, "README.md")).read()
    block = text.split("## One command per stage", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.strip().splitlines():
        code, _, comment = line.partition("#")
        words = shlex.split(code)
        assert words[0] == "python", line
        optional = re.search(r"\[([^\]]+)\]", code)
        if optional:
            plain = shlex.split(code.replace(optional.group(0), ""))
            commands += [(plain[1], plain[2:]), (plain[1], shlex.split(code.replace(optional.group(0),
                                                                               optional.group(1)))[2:])]
        else:
            commands.append((words[1], words[2:]))
        if "_blackbox script" in comment:  # "dfme_attack.py …  # extraction; then the _blackbox script"
            args = [a for a in words[2:] if a not in ("-dataset", "digits")]
            commands.append(("mia_on_mu_main_digits_fullclass_blackbox.py", args))
    return commands


def layout_globs(log_root):
    """(folder glob, [file globs]) of each line of docs/pipeline.md's output layout that the block's scripts write
    (run.py's launcher folder left out); ``<x>`` and ``[...]`` become ``*``, optional files (``[mid.pt]``),
    notes in parentheses, descriptions and script names are dropped."""
    text = open(os.path.join(ROOT, "docs", "pipeline.md")).read()
    block = text.split("## Output layout", 1)[1].split("```", 2)[1]
    out, run_folder = [], None
    for line in block.strip().splitlines():
        line = re.sub(r"\([^)]*\)", "", line.split("←")[0])
        line = re.sub(r"<[^>]*>", "*", line)  # a placeholder, spaces and all
        line = re.sub(r"(^|\s)\[[^\]]*\]", " ", line)  # an optional file
        words = [w for w in line.split() if w != "…"]
        path_words = [w for w in words if re.fullmatch(r"[\w*<>.\[\]λ/-]+", w) and ("." in w or "/" in w)
                      and not w.endswith(".py")]

        def glob_of(w):
            return re.sub(r"\*+", "*", re.sub(r"<[^>]*>|\[[^\]]*\]", "*", w))

        if line.startswith("log_files/"):
            folder = os.path.join(log_root, glob_of(path_words[0])[len("log_files/"):])
            if "/launcher/" in folder + "/":
                continue
            run_folder = folder if "/p1-" in folder else run_folder
            out.append((folder, [glob_of(w) for w in path_words[1:]]))
        else:  # an indented line: files and folders inside the run folder above it
            out += [(run_folder, [glob_of(w)]) for w in path_words]
    return out


@pytest.mark.slow
def test_every_readme_stage_command_runs_and_writes_where_the_layout_says(tmp_path, monkeypatch):
    import config

    monkeypatch.setitem(config.PRESETS["digits"], "pretrain",
                        dict(config.PRESETS["digits"]["pretrain"], epochs=1, milestones=[]))
    log_root = str(tmp_path / "logs")
    commands = readme_block()
    assert len(commands) >= 11, commands
    monkeypatch.chdir(ROOT)
    for script, argv in commands:
        assert script in CHEAP, f"README runs {script}: add how to run it cheaply to CHEAP"
        argv = [("2" if a == "16" and prev in ("-K", "--K") else a) for prev, a in zip([""] + argv, argv)]
        extra = ([] if script in NO_LOG_ROOT else ["--log_root", log_root]) + \
                ([] if script in NO_DEVICE else ["--device", "cpu"])
        monkeypatch.setattr(sys, "argv", [script, *argv, *extra, *CHEAP[script]])
        try:
            runpy.run_path(os.path.join(ROOT, script), run_name="__main__")
        except SystemExit as exc:
            assert exc.code in (None, 0), f"{script} {' '.join(argv)}: {exc.code}"
    missing = []
    for folder, files in layout_globs(log_root):
        if not glob.glob(folder):
            missing.append(folder)
        for name in files:
            if not glob.glob(os.path.join(folder, name)):
                missing.append(os.path.join(folder, name))
    assert not missing, "the layout names paths the commands did not write:\n" + "\n".join(missing)


def test_the_block_parses_into_the_listed_scripts():
    commands = readme_block()
    assert {s for s, _ in commands} == set(CHEAP)
    assert ("forget_full_class_strategies.py", ["-dataset", "cifar20"]) in commands


def test_the_layout_parses_into_globs(tmp_path):
    globs = dict((f[len(str(tmp_path)) + 1:], files) for f, files in layout_globs(str(tmp_path)))
    assert globs["*/*/pretrain/seed-*/"] == ["model.pt", "train_log.tsv", "results.json"]
    assert globs["*/*/masks/forget_*/seed-*/"] == ["mask_*.pt", "masks.json"]
    assert any(k.startswith("*/*/forget_*/*/p1-*_p2-*_mask-*_seed-*") for k in globs)
