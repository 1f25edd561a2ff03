"""One run identity: --recipe names the run folder by its content, every stage finds the run through it, and the
entry functions end with one error line."""
import json
import os
import shutil

import pytest

from unlearning.errors import exit_on_error
from unlearning.cli.args import finish_args
from unlearning.paths import settings_tag
from unlearning.pipeline.launcher import Step
from unlearning.run_identity import RunIdentity, fill_forget_default, pretrained_path, resolve
from unlearning.errors import Diverged
from unlearning.cli.unlearn import main, parser

RECIPE = {"UNLEARN": {"finetune": {"para2": 1}}}


def _run_dir(tmp_path, *extra):
    args = finish_args(parser("digits").parse_args(["-method", "finetune", "--log_root", str(tmp_path), *extra]))
    resolve(args)
    return RunIdentity.of(args).run_dir, args


def test_no_recipe_adds_nothing_to_the_folder_name(tmp_path):
    folder, args = _run_dir(tmp_path)
    assert os.path.basename(folder).endswith("_seed-0")
    assert args.forget_class == 3 and args.para2 == 5  # the preset's forget class, finetune's configured epochs


def test_each_seed_runs_on_its_own_pretrained_model_by_default(tmp_path, digits_pretrained):
    """The default source of a -seed s run is pretrain/seed-<s>: a seed sweep on its own models has one identity
    but the seed (no _src- tag); seed 0's model under a seed-1 run is another source, named by content."""
    log_root = str(tmp_path)
    for seed in (0, 1):
        path = pretrained_path(log_root, "digits", "resnet8", seed)
        os.makedirs(os.path.dirname(path))
        shutil.copy(digits_pretrained, path)
    own, args = _run_dir(tmp_path, "-seed", "1")
    assert args.weight_path == pretrained_path(log_root, "digits", "resnet8", 1)
    assert os.path.basename(own).endswith("_seed-1") and "_src-" not in own
    other, _ = _run_dir(tmp_path, "-seed", "1", "-weight_path", pretrained_path(log_root, "digits", "resnet8", 0))
    # the two files have the same bytes here, so seed 0's model counts as the same source: identity is by content
    assert other == own
    with open(pretrained_path(log_root, "digits", "resnet8", 0), "ab") as f:
        f.write(b"\0")  # now another model
    other, _ = _run_dir(tmp_path, "-seed", "1", "-weight_path", pretrained_path(log_root, "digits", "resnet8", 0))
    assert os.path.basename(other).startswith(os.path.basename(own) + "_src-")


def test_recipe_content_names_the_folder_not_its_path(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(RECIPE))
    b.write_text(json.dumps(RECIPE, indent=2))  # same content, other bytes and path
    fa, args = _run_dir(tmp_path, "--recipe", str(a))
    fb, _ = _run_dir(tmp_path, "--recipe", str(b))
    inline, _ = _run_dir(tmp_path, "--recipe", json.dumps(RECIPE))
    tag = settings_tag(RECIPE)
    assert fa == fb == inline and os.path.basename(fa).endswith(f"_seed-0_rcp-{tag}") and len(tag) == 8
    assert args.para2 == 1  # the recipe's value, merged over config
    other, _ = _run_dir(tmp_path, "--recipe", json.dumps({"UNLEARN": {"finetune": {"para2": 2}}}))
    assert other != fa and os.path.dirname(other) == os.path.dirname(fa)


def test_recipe_run_is_found_by_the_attack_with_the_same_recipe(tmp_path, digits_pretrained):
    from unlearning.cli.attack import rea_parser, resolve_target
    from unlearning.attacks.reminiscence import ReAError

    log_root = str(tmp_path)
    default = pretrained_path(log_root, "digits", "resnet8", 0)  # the default source: no _src- suffix
    os.makedirs(os.path.dirname(default))
    shutil.copy(digits_pretrained, default)
    argv = ["-method", "finetune", "--log_root", log_root, "--device", "cpu", "--recipe", json.dumps(RECIPE)]
    res = main("digits", argv=argv)
    run_dir = os.path.dirname(res["checkpoints"]["last"])
    assert run_dir.endswith("_rcp-" + settings_tag(RECIPE)) and res["settings"]["para2"] == 1
    args = finish_args(rea_parser("digits").parse_args(argv))
    assert resolve_target(args, subclass=False, blackbox=False) == (os.path.join(run_dir, "last.pt"), run_dir)
    plain = finish_args(rea_parser("digits").parse_args(argv[:-2]))  # no recipe: another run, not made yet
    with pytest.raises(ReAError, match=r"_seed-0/last.pt does not exist"):
        resolve_target(plain, subclass=False, blackbox=False)


def test_bad_recipe_is_one_line_before_computing(tmp_path):
    with pytest.raises(SystemExit, match="error: UNLEARN_OVERRIDES recipe .*neither a JSON object"):
        main("digits", argv=["-method", "finetune", "--log_root", str(tmp_path), "--recipe",
                             str(tmp_path / "missing.json")])
    assert not os.listdir(tmp_path)


def test_fill_forget_default():
    class A:
        dataset, forget_class, forget_fine = "digits", None, None
    a = A()
    fill_forget_default(a)
    assert a.forget_class == 3
    a.forget_class = 5
    fill_forget_default(a)
    assert a.forget_class == 5
    with pytest.raises(ValueError, match="digits has no sub-class preset"):
        fill_forget_default(A(), subclass=True)


def test_launcher_key_follows_the_recipe_content(tmp_path):
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps(RECIPE))
    step = Step("unlearn", "u", [["python", "forget_full_class_main_digits.py", "--recipe", str(recipe)]])
    k1 = step.canonical_key(str(tmp_path))
    assert step.canonical_key(str(tmp_path)) == k1
    recipe.write_text(json.dumps({"UNLEARN": {"finetune": {"para2": 2}}}))
    assert step.canonical_key(str(tmp_path)) != k1
    inline = Step("unlearn", "u", [["python", "x.py", "--recipe", json.dumps(RECIPE)]])
    assert inline.canonical_key(str(tmp_path)) == inline.canonical_key(str(tmp_path / "elsewhere"))


def test_exit_on_error_endings():
    with pytest.raises(SystemExit, match=r"^error: bad value$"):
        with exit_on_error("the thing"):
            raise ValueError("bad value")
    with pytest.raises(SystemExit, match=r"^error: \[Errno 2\] gone$"):
        with exit_on_error("the thing"):
            raise FileNotFoundError(2, "gone")
    with pytest.raises(SystemExit, match=r"^error: could not write the thing: disk full$"):
        with exit_on_error("the thing"):
            raise OSError("disk full")
    with pytest.raises(SystemExit, match=r"^error: bad value; more$"):
        with exit_on_error("the thing", detail=lambda err: "; more"):
            raise ValueError("bad value")
    with pytest.raises(Diverged):  # no message for it: it is not the user's input
        with exit_on_error("the thing"):
            raise Diverged("nan")
    with pytest.raises(SystemExit, match=r"^error: X diverged: nan$"):
        with exit_on_error("the thing", diverged=lambda err: f"X diverged: {err}"):
            raise Diverged("nan")
    with pytest.raises(RuntimeError):  # a bug stays a traceback
        with exit_on_error("the thing"):
            raise RuntimeError("bug")
