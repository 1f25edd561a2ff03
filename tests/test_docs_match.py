"""The statements of docs/ and log_files/README.md about folders, tags, stages and columns, checked against the code
that makes them: a change on either side that leaves the other behind fails here."""
import json
import os
import re

import pytest

import config
from conftest import ROOT
from unlearning.paths import pretrain_dir
from unlearning.pipeline.launcher import Launcher, STAGES, plan_sweep
from unlearning.attacks.reminiscence import ReAConfig
from unlearning.paths import mask_dir
from unlearning.paths import mask_filename


def doc(name: str) -> str:
    with open(os.path.join(ROOT, name)) as fh:
        return fh.read()


def fill(pattern: str, values: dict) -> str:
    """A documented path pattern with its <placeholders> replaced and its [optional parts] kept."""
    for key, value in values.items():
        pattern = pattern.replace(f"<{key}>", str(value))
    return pattern.replace("[", "").replace("]", "")


def stage_list(text: str, lead: str) -> list:
    """The comma-separated stage names that follow ``lead`` (up to the closing parenthesis or semicolon)."""
    m = re.search(re.escape(lead) + r"\s*([a-z, \n]+?)[;)(]", text)
    assert m, f"no stage list after {lead!r}"
    return [s.strip() for s in m.group(1).replace("\n", " ").split(",")]


# ----------------------------------------------------------------------------- masks
def test_documented_mask_folder_is_mask_dir():
    want = mask_dir("log_files", "digits", "resnet8", 3, 0)
    for name, pattern in (("docs/representation.md", "log_files/<dataset>/<net>/masks/forget_<c>/seed-<s>"),
                          ("docs/reliability.md", "log_files/<ds>/<net>/masks/forget_<c>/seed-<s>"),
                          ("docs/pipeline.md", "log_files/<dataset>/<net>/masks/forget_<class>/seed-<s>"),
                          ("log_files/README.md", "log_files/<dataset>/<net>/masks/forget_<class>/seed-<s>")):
        assert pattern in doc(name), name
        assert fill(pattern, {"dataset": "digits", "ds": "digits", "net": "resnet8", "c": 3, "class": 3, "s": 0}) == want
    # the example --mask_path of the docs is a file the masks stage writes
    example = "log_files/digits/resnet8/masks/forget_3/seed-0/mask_0.5.pt"
    assert example in doc("docs/representation.md") and example in doc("docs/unlearning.md")
    assert example == os.path.join(want, mask_filename(0.5))


# ----------------------------------------------------------------------------- run.py's default plans
def run_settings(argv, tmp_path) -> dict:
    import run

    return run.settings_from(run.parse_args([*argv, "--log_root", str(tmp_path), "--data_root", str(tmp_path)]))


def planned_stages(argv, tmp_path) -> list:
    import run

    s = run.settings_from(run.parse_args([*argv, "--log_root", str(tmp_path), "--data_root", str(tmp_path)]))
    launcher = plan_sweep(s, Launcher(str(tmp_path), dry_run=True))
    return [st for st in STAGES if any(step.stage == st for step in launcher.steps)], launcher


def plan_rows() -> dict:
    """pipeline.md's table of default plans: preset → (default stages, the planned stages' names)."""
    rows = {}
    for line in doc("docs/pipeline.md").splitlines():
        m = re.match(r"\| (digits|cifar20, cifar100, imagenet64, cifar20_subclass) \| ([a-z ]+) \| ([a-z ,]+?)[:(|]",
                     line)
        if m:
            for preset in m.group(1).split(", "):
                rows[preset] = (m.group(2).split(), [s.strip() for s in m.group(3).replace("the same five", "").split(",")
                                                     if s.strip()])
    return rows


def test_digits_plan_has_no_mask_step_as_documented(tmp_path):
    rows = plan_rows()
    default, steps = rows["digits"]
    assert default == config.RUN_PRESETS["digits"]["stages"]
    stages, _ = planned_stages([], tmp_path)
    assert stages == steps == ["pretrain", "unlearn", "rea", "distribution", "report"]
    assert "masks" in default and "masks" not in stages  # the stage is listed, but no entry has a mask ratio


@pytest.mark.parametrize("preset", ["cifar20", "cifar100", "imagenet64", "cifar20_subclass"])
def test_paper_presets_default_stages_as_documented(preset, tmp_path):
    default, _ = plan_rows()[preset]
    assert default == config.RUN_PRESETS[preset]["stages"]
    stages, _ = planned_stages(["--preset", preset], tmp_path)
    assert stages == ["pretrain", "unlearn", "rea", "distribution", "report"]


# ----------------------------------------------------------------------------- the ReA tag
def test_documented_rea_tag_is_the_tag_function():
    m = re.search(r"`<tag>` = `([^`]+)`", doc("docs/attack.md"))
    assert m, "attack.md gives no <tag> pattern"
    cfg = ReAConfig(unlearn_data_percent=0.25, num_ood_dataset=4, relearning_lr=[0.01, 0.05], repeats=7, steps=30,
                    mix_batch=5, threshold=0.8, seed=3)
    documented = fill(m.group(1).replace("<lr1>-<lr2>…", "<lrs>"),
                      {"p": "0.25", "k": 4, "m": 5, "T": 30, "τ": "0.8", "repeats": 7, "lrs": "0.01-0.05",
                       "attack seed": 3})
    assert documented == cfg.tag()


# ----------------------------------------------------------------------------- gpu.md's smoke run
def test_smoke_run_has_every_stage_and_dfme_with_the_documented_budget(tmp_path):
    text = " ".join(doc("docs/gpu.md").split())
    budget = int(re.search(r"the black box on baseline with a (\d+)-query budget", text).group(1))
    assert budget == config.SMOKE["blackbox"]["query_budget"]
    assert "`--smoke` runs every stage run.py has (" in text
    s = run_settings(["--preset", "cifar20", "--smoke", "--methods", "baseline", "retrain"], tmp_path / "a")
    assert s["stages"] == list(STAGES)
    stages, launcher = planned_stages(["--preset", "cifar20", "--smoke", "--methods", "baseline", "retrain",
                                       "--stages", *STAGES], tmp_path / "a")
    assert set(stages) == set(STAGES)
    dfme = [c for st in launcher.steps if st.stage == "blackbox" for c in st.cmds if "dfme_attack.py" in c]
    assert dfme and all(c[c.index("--query_budget") + 1] == str(budget) for c in dfme)
    assert {st.stage for st in launcher.steps} == set(STAGES)  # a step of every stage, masks included
    ratio = re.search(r"a SalUn-masked finetune \(mask ratio ([0-9.]+)", text).group(1)
    assert config.SMOKE["masked_entry"] == ["finetune", None, None, float(ratio)]
    k = re.search(r"the population audit with K = (\d+)", text).group(1)
    assert config.SMOKE["quality"]["K"] == int(k)
    # the audit's models get the smoke recipes: pretraining, and every method's settings as its sweep steps get them
    q = next(c for st in launcher.steps if st.stage == "quality" for c in st.cmds)
    assert json.loads(q[q.index("--pretrain_recipe") + 1]) == config.SMOKE["pretrain"]
    per_method = json.loads(q[q.index("--method_settings") + 1])
    assert sorted(per_method) == ["finetune", "retrain"]  # retrain and the masked entry's method, audited unmasked
    swept = {}
    for st in launcher.steps:
        if st.stage == "unlearn":
            cmd = st.cmds[0]
            swept[cmd[cmd.index("-method") + 1]] = json.loads(cmd[cmd.index("--settings") + 1])
    assert {m: swept[m] for m in per_method} == per_method
    narrowed = run_settings(["--preset", "cifar20", "--smoke", "--stages", "pretrain", "unlearn", "report"],
                            tmp_path / "b")
    assert narrowed["stages"] == ["pretrain", "unlearn", "report"]


def test_gpu_check_tiny_as_documented():
    script = doc("benchmarks/gpu_check.sh")
    tiny = re.search(r'GPU_CHECK_TINY:-0}" = 1 \]; then\n(.*?)\n', script).group(1)
    assert "TRAIN=6" in tiny and "TEST=1" in tiny and "EPOCHS=1" in tiny and "QUICK=--quick" in tiny
    assert "--net resnet8" in tiny and "--methods baseline retrain badteacher_our" in tiny
    text = doc("docs/gpu.md")
    said = re.search(r"`GPU_CHECK_TINY=1` runs the same script with tiny sizes \((.*?)\)", text, re.S).group(1)
    for part in ("6 train", "1 test image per class", "one pretraining epoch", "`--net resnet8`",
                 "baseline, retrain and badteacher_our", "`--quick`"):
        assert part in said.replace("\n", " "), part
    assert "a CPU check" not in text


# ----------------------------------------------------------------------------- log_files/README.md
def test_log_files_readme_folders_and_pointer():
    text = doc("log_files/README.md")
    pattern = "log_files/<dataset>/<net>/pretrain/seed-<s>[_l1-<λ>][_subclass]"
    assert pattern in text and "pretrain/seed<s>" not in text
    assert fill(pattern, {"dataset": "digits", "net": "resnet8", "s": 0, "λ": "0.0005"}) == \
        pretrain_dir("log_files", "digits", "resnet8", 0, 5e-4, subclass=True)
    for target, section in re.findall(r"see (docs/[a-z_]+\.md), \"([^\"]+)\"", text):
        assert re.search(rf"^#+ {re.escape(section)}$", doc(target), re.M), (target, section)
    assert re.findall(r"see (docs/[a-z_]+\.md), \"([^\"]+)\"", text)


# ----------------------------------------------------------------------------- the stage lists
def test_documented_stage_order_is_the_launchers():
    assert stage_list(doc("docs/launcher.md"), "stages in\nthe order") == STAGES
    assert stage_list(doc("docs/cluster.md"), "Stages run in order (") == STAGES
    assert stage_list(doc("run.py"), "Stages run in order (") == STAGES
    table = re.search(r"\| stage \| inputs \| outputs \|\n\|[-|]+\|\n(.*?)\n\n", doc("docs/launcher.md"), re.S).group(1)
    assert [row.split("|")[1].strip() for row in table.splitlines()] == STAGES


# ----------------------------------------------------------------------------- the two MIA numbers, ReA / prior
def mia_table() -> dict:
    """unlearning.md's MIA table: results.json key → (report column, log.tsv column)."""
    out = {}
    for line in doc("docs/unlearning.md").splitlines():
        m = re.match(r"\| `(MIA\w*)` \(`evaluation\.(\w+)`.*?\| `([^`]+)` \| (`\w+`|—) \|", line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3), m.group(4).strip("`"))
    return out


def test_mia_columns_as_documented(tmp_path, digits_pretrained):
    from unlearning import evaluation
    from unlearning.report import efficacy_table
    from unlearning.cli.unlearn import LOG_COLUMNS, main

    table = mia_table()
    assert set(table) == {"MIA", "MIA_paper"}
    for key, (function, _, _) in table.items():
        assert callable(getattr(evaluation, function))
    text = doc("docs/unlearning.md")
    assert "header `d_t d_f d_r mia time`" in text and LOG_COLUMNS == ["d_t", "d_f", "d_r", "mia", "time"]
    documented_metrics = re.search(r"`metrics` \{([^}]+)\}", text).group(1).replace("\n", " ")
    res = main("digits", argv=["-method", "baseline", "--log_root", str(tmp_path), "-weight_path", digits_pretrained,
                               "--device", "cpu"])
    m = res["metrics"]
    assert {k.strip() for k in documented_metrics.split(",")} == set(m)
    folder = os.path.dirname(res["checkpoints"]["last"])
    header, row = [line.split("\t") for line in open(os.path.join(folder, "log.tsv")).read().splitlines()]
    logged = dict(zip(header, map(float, row)))
    for key, (_, _, tsv) in table.items():
        if tsv != "—":
            assert logged[tsv] == pytest.approx(m[key], abs=1e-6)
    # the two differ in definition; log.tsv's d_t is d_t, not TA
    assert logged["d_t"] == pytest.approx(m["d_t"], abs=1e-6)
    columns = set(efficacy_table([dict(dataset="digits", net="resnet8", forget=3, method="baseline", para1=None,
                                       para2=None, mask=None, l1=0.0, l2=0.0, seed=0, **m)])[0])
    for key, (_, column, _) in table.items():
        assert column in columns, column


def test_rea_over_prior_as_documented():
    from unlearning.report import rea_table

    text = doc("docs/attack.md")
    flat = " ".join(text.split())
    assert '"ReA bal. acc / prior bal. acc" in the script' in flat and "not a column of the report's tables" in flat
    row = dict(dataset="digits", net="resnet8", forget=3, method="badteacher", para1=None, para2=None, mask=None,
               l1=0.0, l2=0.0, seed=0, lr=0.01, AUC=0.9, BA=0.9, TPR5=0.5, steps_forget=3.0, steps_ood=9.0,
               prior_BA=0.5, ratio=1.8, seconds=1.0)
    table = rea_table([row])[0]  # the ratio's prior is not controlled for class identity: no report column
    assert "ReA / prior" not in table and "prior AUC − retrain's (same seed)" in table
    assert "ReA bal. acc / prior bal. acc {res['rea_over_prior_balanced_accuracy']" in doc("unlearning/cli/attack.py")
    assert 'res["rea_over_prior_balanced_accuracy"] = res["balanced_accuracy"] / pb' in \
        doc("unlearning/attacks/reminiscence.py")


def test_run_py_and_the_rea_script_name_one_attack_folder_by_default(tmp_path):
    """run.py's ReA step passes the attack's own defaults (config.REA), so the folder README's per-stage ReA command
    writes is the one run.py's step declares: a hand-made attack is found, not redone under another tag."""
    from unlearning.cli.args import finish_args
    from unlearning.cli.attack import config_from_args, rea_parser

    _, launcher = planned_stages(["--methods", "badteacher_our", "--stages", "unlearn", "rea"], tmp_path)
    (step,) = [st for st in launcher.steps if st.stage == "rea"]
    (planned,) = step.outputs()
    argv = ["-method", "badteacher_our", "-seed", "0", "--log_root", str(tmp_path), "--data_root", str(tmp_path)]
    args = finish_args(rea_parser("digits").parse_args(argv))
    tag = config_from_args(args, "digits", False).tag()
    assert os.path.basename(os.path.dirname(planned)) == tag and "_lr0.01_" in tag
    assert "--relearning_lr" not in step.cmds[0]
