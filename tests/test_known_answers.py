"""The smoke report's known-answer checks on hand-made rows, and the learnable fixture they rely on."""
import numpy as np

from fixture_writers import class_patterns, learnable_pixels
from unlearning.report import known_answers, known_answers_markdown

GROUP = {"dataset": "cifar20", "net": "resnet8", "forget": 4}  # 20 classes, 5 OOD: 15 trained, chance 1/15


def _rows(ta=0.5, auc=1.0, ua=0.0, base_ua=1.0, group=GROUP):
    return {"unlearn": [dict(group, method="baseline", TA=ta, UA=base_ua), dict(group, method="retrain", TA=0.4, UA=ua)],
            "rea": [dict(group, method="baseline", AUC=auc, lr=0.01), dict(group, method="retrain", AUC=0.5, lr=0.01)]}


def test_known_answers_pass_and_fail_at_their_bounds():
    assert [ok for ok, _ in known_answers(_rows())] == [True, True, True]
    # 3 × 1/15 = 0.2 is the bound of the TA check; 0.9 of the AUC check; anything above 0 fails retrain's UA
    assert [ok for ok, _ in known_answers(_rows(ta=0.199, auc=0.89, ua=0.01))] == [False, False, False]
    assert [ok for ok, _ in known_answers(_rows(ta=0.2, auc=0.9))] == [True, True, True]
    line = known_answers(_rows(ta=0.25))[0][1]
    assert line == "cifar20 / resnet8, forget class 4: pretrained model (baseline TA) 0.250 ≥ 3× chance (0.200, 15 classes)"


def test_rea_answer_only_where_baseline_knows_the_class_and_none_in_the_subclass_setting():
    # baseline's UA below 3× chance (0.2): the model never learned the forget class, ReA has no known answer
    checks = known_answers(_rows(auc=0.5, base_ua=0.1))
    assert [ok for ok, _ in checks] == [True, None, True] and "UA 0.100 < 0.200" in checks[1][1]
    assert [ok for ok, _ in known_answers(_rows(auc=0.5, base_ua=0.37))] == [True, False, True]  # known: fails
    sub = known_answers(_rows(auc=0.5, ua=0.8, group=dict(GROUP, forget="fine61")))
    assert [ok for ok, _ in sub] == [True, None] and "n/a in the sub-class setting" in sub[1][1]


def test_a_check_without_its_run_is_not_run_and_counted_apart():
    rows = {"unlearn": [dict(GROUP, method="badteacher", TA=0.5, UA=0.0)], "rea": []}
    checks = known_answers(rows)
    assert [ok for ok, _ in checks] == [None, None, None]
    assert known_answers_markdown(checks)[1] == "known answers: 0 pass, 0 fail, 3 not run\n"


def test_learnable_pixels_are_deterministic_class_patterns():
    labels = np.array([0, 1, 0, 2])
    a = learnable_pixels(labels, 3072, seed=1)
    assert a.dtype == np.uint8 and a.shape == (4, 3072)
    assert np.array_equal(a, learnable_pixels(labels, 3072, seed=1))
    assert not np.array_equal(a, learnable_pixels(labels, 3072, seed=2))  # another noise draw
    # a class's pattern does not depend on how many classes are drawn; patterns are mirror-symmetric
    assert np.array_equal(class_patterns(3, 3072, 0)[2], class_patterns(9, 3072, 0)[2])
    img = class_patterns(3, 3072, 0).reshape(3, 3, 32, 32)
    assert np.array_equal(img, img[..., ::-1])
    # the nearest class mean of the noisy images is their class: the data is learnable
    x = learnable_pixels(np.repeat(np.arange(5), 20), 3072, seed=3).astype(float)
    means = class_patterns(5, 3072, 0) * 70 + 128
    nearest = ((x[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    assert np.array_equal(nearest, np.repeat(np.arange(5), 20))


def test_a_seed_sweep_on_each_seeds_own_model_is_one_experiment_in_the_report(tmp_path):
    """Runs whose folders carry no _src- tag ran on their own seed's pretrained model (the default source): the
    report groups them as one experiment although the models' fingerprints differ; a _src- run stays apart."""
    import os

    from unlearning.files import write_json
    from unlearning.report import IDENT, _identity, collect

    base = tmp_path / "digits" / "resnet8" / "forget_3" / "finetune"
    for folder, seed, src in (("p1-0.05_p2-5_mask-none_seed-0", 0, "aaaa1111"), ("p1-0.05_p2-5_mask-none_seed-1", 1,
                              "bbbb2222"), ("p1-0.05_p2-5_mask-none_seed-1_src-cccc3333", 1, "cccc3333")):
        write_json(os.path.join(base, folder, "results.json"), {
            "stage": "unlearn", "status": "done", "method": "finetune", "settings": {"epochs": 5},
            "source_fingerprint": src + "ffff", "metrics": {"TA": 0.9, "UA": 0.0},
            "args": {"dataset": "digits", "net": "resnet8", "forget_class": 3, "para1": 0.05, "para2": 5, "seed": seed}})
    rows = collect(str(tmp_path))["unlearn"]
    idents = {tuple(r[k] for k in IDENT) for r in rows}
    assert len(rows) == 3 and len(idents) == 2
    own = [r for r in rows if "_src-" not in r["path"]]
    assert own[0]["source"] == own[1]["source"] == "" and {r["seed"] for r in own} == {0, 1}
    assert _identity({"args": {}, "source_fingerprint": "cccc3333ffff"}, None)["source"] == "cccc3333"


def test_report_that_cannot_be_written_is_one_error_line(tmp_path):
    """A report folder that cannot be made or written (here: under a regular file; also no permission, a full
    disk) ends in one ``error:`` line naming the file, not a traceback."""
    import pytest

    from unlearning.report import main

    (tmp_path / "logs").mkdir()
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(SystemExit) as err:
        main(["--log_root", str(tmp_path / "logs"), "--out_dir", str(blocker / "report"), "--quiet"])
    assert str(err.value.code).startswith("error: ") and "file.txt" in str(err.value.code)
