"""The rival attacks as a stage: registry entries, their entry point's outputs, run.py's step, the report's matrix."""
import inspect
import json
import os

import pytest

import config
from unlearning import matrix
from unlearning.attacks import ATTACKS, attack_of
from unlearning.attacks import rival as A


def test_rival_attacks_are_registry_entries_with_matrix_rows():
    for name in ("pra", "retain_relearn"):
        a = ATTACKS[name]
        assert a.folder == (name,) and a.fields and a.matrix
        assert attack_of(os.path.join("run", name, "tag", "results.json"), "run") is a
    assert [r[0] for r in ATTACKS["rea"].matrix] == ["ReA white-box: AUC", "entropy MIA (prior attack): AUC"]


def test_the_paper_values_of_config_are_the_functions_defaults():
    paper = config.RIVAL["paper"]
    pra = inspect.signature(A.prototypical_relearning_attack).parameters
    rr = inspect.signature(A.retain_relearning).parameters
    for key in ("n_samples", "alpha", "metric", "source"):
        assert paper["pra"][key] == pra[key].default
    for key in ("steps", "lr", "optimizer", "schedule", "batch_size", "eval_every"):
        assert paper["retain_relearn"][key] == rr[key].default
    assert paper["retain_relearn"]["bn"] == ("train" if rr["train_mode"].default else "eval")


def test_report_rows_of_hand_made_results():
    res = {"pra": {"forget_train_before": 0.0, "forget_test_before": 0.1, "forget_train_after": 0.6,
                   "forget_test_after": 0.5, "forget_test_recovered": 0.4, "retain_test_after": 0.9}}
    assert A.pra_rows(res) == [dict(res["pra"])]
    rr = {"retain_relearn": {"forget_test_initial": 0.2, "forget_test_final": 0.3, "forget_test_max_recovered": 0.5,
                             "retain_test_final": 0.9, "forget_train_final": 0.4}}
    assert A.retain_relearning_rows(rr)[0]["forget_test_max"] == pytest.approx(0.7)
    with pytest.raises(ValueError):
        A.pra_rows({"pra": {"forget_test_after": "high"}})
    with pytest.raises(ValueError):
        A.retain_relearning_rows({})


def _cell(row, method, value, seed, kind="auc"):
    return matrix.Cell(("digits", "resnet8", 3), row, kind, ("digits", "resnet8", 3, method), method, value, seed)


def test_matrix_cells_are_mean_and_sd_over_seeds_and_retrain_marks_identity_reads():
    cells = [_cell("A: AUC", "retrain", 0.5, 0), _cell("A: AUC", "retrain", 0.54, 1),
             _cell("A: AUC", "ng", 0.9, 0), _cell("A: AUC", "ng", 0.7, 1),
             _cell("B: AUC", "retrain", 0.8, 0), _cell("B: AUC", "retrain", 0.7, 1), _cell("B: AUC", "ng", 0.8, 0)]
    m = matrix.build(cells, ["B: AUC", "A: AUC"], lambda col, label: (label != "retrain", label))
    m = m[("digits", "resnet8", 3)]
    assert m.rows == ["B: AUC", "A: AUC"] and [m.labels[c] for c in m.columns] == ["retrain", "ng"]
    # mean 0.8, sd sqrt(((0.1)^2 + (0.1)^2) / 1) = 0.1414
    assert matrix.cell_text(m, "A: AUC", m.columns[1]) == "0.800 ± 0.141 (n=2)"
    assert matrix.cell_text(m, "B: AUC", m.columns[1]) == "0.800 (n=1)"
    assert m.reads_identity("B: AUC") and not m.reads_identity("A: AUC")
    md = matrix.to_markdown(m)
    assert "B: AUC ⚠ scores on retrain" in md and "| A: AUC |" in md
    assert matrix.to_csv(m).splitlines()[0] == "attack,kind,retrain,ng"


@pytest.fixture(scope="module")
def rival_run(digits_pretrained, tmp_path_factory):
    from unlearning.cli.unlearn import main as unlearn

    log_root = str(tmp_path_factory.mktemp("rival_logs"))
    ident = ["-method", "negative_grad", "-weight_path", digits_pretrained, "--log_root", log_root,
             "--device", "cpu"]
    unlearn("digits", argv=ident + ["--settings", '{"epochs": 1}'])
    return log_root, ident + ["--settings", '{"epochs": 1}']


def test_entry_point_writes_each_attack_in_its_own_folder(rival_run):
    from unlearning.cli.rival import rival_main
    from unlearning.files import read_json
    from unlearning.pipeline.launcher import rival_results_paths

    log_root, ident = rival_run
    argv = ident + ["--relearn_steps", "4", "--relearn_eval_every", "2", "--quiet"]
    out = rival_main("digits", argv)
    assert set(out) == {"pra", "retain_relearn"}
    paths = rival_results_paths("digits", argv)  # what run.py checks: the files the stage wrote
    assert paths == [os.path.join(out[a]["out_dir"], "results.json") for a in ("pra", "retain_relearn")]
    for a, path in zip(("pra", "retain_relearn"), paths):
        saved = read_json(path)
        assert saved["stage"] == a and saved["status"] == "done" and saved["target"]["method"] == "negative_grad"
        assert os.path.basename(os.path.dirname(os.path.dirname(path))) == a
    curve = read_json(paths[1])["retain_relearn"]["curve"]
    assert curve["step"] == [0, 2, 4] and os.path.isfile(os.path.join(os.path.dirname(paths[1]), "curve.png"))
    # other settings: another folder, the first result kept
    again = rival_main("digits", ident + ["-attack", "retain_relearn", "--relearn_steps", "2", "--quiet"])
    assert again["retain_relearn"]["out_dir"] != out["retain_relearn"]["out_dir"] and os.path.isfile(paths[1])


def test_bad_rival_settings_are_one_line(rival_run, capsys):
    from unlearning.cli.rival import rival_main

    _, ident = rival_run
    for flag, value, why in (("--pra_alpha", "1.5", "must be a weight in [0, 1]"),
                             ("--relearn_lr", "0", "must be a learning rate"),
                             ("--relearn_steps", "2.5", "is not a number"), ("--relearn_bn", "frozen", "invalid choice")):
        with pytest.raises(SystemExit):
            rival_main("digits", ident + [flag, value])
        assert why in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:  # no such run: one line naming the file
        rival_main("digits", ident + ["--para1", "0.05"])
    assert str(err.value.code).startswith("error: ") and "last.pt does not exist" in str(err.value.code)


@pytest.mark.slow
def test_the_report_puts_every_attack_in_one_matrix(rival_run, tmp_path):
    from unlearning.cli.attack import rea_main
    from unlearning.report import build_report

    log_root, ident = rival_run
    from unlearning.cli.rival import rival_main
    rival_main("digits", ident + ["--relearn_steps", "2", "--relearn_eval_every", "1", "--quiet"])
    rea_main("digits", argv=ident + ["--repeats", "2", "--steps", "3", "--relearning_lr", "0.01", "0.05", "--no_plot",
                                     "--quiet"])
    rep = build_report(log_root, str(tmp_path / "report"), warn=lambda line: None)
    (group, m), = rep["matrices"].items()
    assert group == ("digits", "resnet8", 3)
    assert {"PRA: forget-test acc. after", "retain-only relearning: best forget-test acc."} <= set(m.rows)
    # two relearning lrs: one ReA row per lr, each named by it
    assert {"ReA white-box: AUC (lr 0.01)", "ReA white-box: AUC (lr 0.05)"} <= set(m.rows)
    assert "## Attack matrix" in rep["markdown"] and os.path.isfile(m.figure)
    assert os.path.isfile(str(tmp_path / "report" / "pra.csv"))
    # the cost rows: the run's own TA and seconds, as its results.json has them
    (column,) = m.columns
    (run_results,) = [os.path.join(d, "results.json") for d, _, files in os.walk(log_root)
                      if "last.pt" in files and "results.json" in files]
    metrics = json.load(open(run_results))["metrics"]
    assert m.kinds["cost: unlearning time (s)"] == "seconds" and m.kinds["cost: test accuracy (TA)"] == "accuracy"
    ta = m.stats("cost: test accuracy (TA)", column)
    assert ta == (metrics["TA"], None, 1)
    assert m.stats("cost: unlearning time (s)", column) == (metrics["RTE"], None, 1)
    assert matrix.cell_text(m, "cost: unlearning time (s)", column) == f"{metrics['RTE']:.1f} (n=1)"
    assert m.rows[-3:] == ["cost: test accuracy (TA)", "efficacy: forget-train accuracy (UA)",
                           "cost: unlearning time (s)"]
    # reproduce_tables.py --docs: the matrix as a docs page headed by the command that wrote it
    from unlearning.report import main
    page = str(tmp_path / "matrix.md")
    main(["--log_root", log_root, "--out_dir", str(tmp_path / "report2"), "--docs", page, "--quiet"])
    text = open(page).read()
    assert text.startswith("# The attack matrix") and "Written by `python reproduce_tables.py --log_root" in text
    assert "PRA: forget-test acc. after" in text and "retrain" in text


def test_run_py_plans_a_rival_step_per_full_class_run(tmp_path):
    from unlearning.pipeline.launcher import Launcher, plan_sweep

    s = dict(config.RUN_PRESETS["digits"], log_root=str(tmp_path), device="cpu", data_root="data",
             stages=["pretrain", "unlearn", "rival"], methods=[["retrain", None, None], ["negative_grad", None, None]],
             smoke=config.SMOKE)
    steps = [st for st in plan_sweep(s, Launcher(str(tmp_path), dry_run=True)).steps if st.stage == "rival"]
    assert len(steps) == 2 and all(st.cmds[0][1] == "rival_attack_main_digits.py" for st in steps)
    assert all("--relearn_steps" in st.cmds[0] for st in steps)  # the smoke settings reach the stage
    sub = dict(s, subclass=True, dataset="cifar20", forget_classes=[69])
    sub_steps = [st for st in plan_sweep(sub, Launcher(str(tmp_path), dry_run=True)).steps if st.stage == "rival"]
    assert len(sub_steps) == 2 and all(st.cmds[0][1] == "rival_attack_main_cifar20_subclass.py" for st in sub_steps)
    assert all(st.cmds[0][st.cmds[0].index("--forget_fine") + 1] == "69" for st in sub_steps)


def test_retain_only_relearning_in_the_subclass_setting(tmp_path, cifar_root):
    """Sub-class setting on the CIFAR fixture (fine 61 and 81 share superclass 7): the relearning trains on D_r,
    which holds 61's retained siblings and neither 61 nor the held-out 81, and reads 61's accuracy as superclass 7;
    PRA, which needs a forget-only classifier row, is refused in one line."""
    import torch

    from unlearning.cli.rival import rival_main
    from unlearning.evaluation import split_accuracy
    from unlearning.experiment import Experiment, load_model, save_checkpoint

    exp = Experiment("cifar20", data_root=cifar_root, device="cpu", subclass=True, forget_fine=61)
    split = exp.split
    retained_fine = set(exp.train.fine[split.retain_train].tolist())
    siblings = set(exp.train.fine[exp.train.y == 7].tolist()) - {61, 81}
    assert siblings and siblings <= retained_fine and not {61, 81} & retained_fine
    torch.manual_seed(0)
    ckpt = save_checkpoint(str(tmp_path / "m.pt"), exp.new_model("resnet8"), exp.model_meta("resnet8"))
    argv = ["--model_path", ckpt, "--data_root", cifar_root, "--forget_fine", "61", "--relearn_steps", "3",
            "--relearn_eval_every", "1", "--relearn_batch_size", "16", "--quiet", "--no_plot", "--device", "cpu"]
    (res,) = rival_main("cifar20", argv=argv, subclass=True).values()
    curve = res["retain_relearn"]["curve"]
    assert curve["step"] == [0, 1, 2, 3] and res["stage"] == "retain_relearn"
    assert os.path.isfile(os.path.join(res["out_dir"], "results.json"))
    untouched = load_model(ckpt, exp)[0]
    assert curve["forget_train"][0] == pytest.approx(split_accuracy(untouched, exp, "forget_train"))
    assert split.forget_class == 7 and set(split.targets(exp.train.y[split.forget_train]).tolist()) == \
        {split.forget_index}
    with pytest.raises(SystemExit):
        rival_main("cifar20", argv=argv + ["-attack", "pra"], subclass=True)
    from unlearning.cli.parsers import rival_parser

    asked = rival_parser("cifar20", subclass=True).parse_args(argv)
    asked.attack = ["pra"]  # past the parser, as a caller building the arguments would
    with pytest.raises(SystemExit, match="error: .*the sub-class setting has only retain_relearn: PRA writes"):
        rival_main("cifar20", args=asked, subclass=True)
