"""A stage writes only into its own folders: an --out_dir holding another stage's results is refused before any
computation, and what is there stays as it was."""
import hashlib
import os

import pytest

from unlearning.cli.distribution import main as distribution_main
from unlearning.errors import OutputError
from unlearning.files import check_stage_owner, write_json


def _digest(path):
    return hashlib.sha1(open(path, "rb").read()).hexdigest()


def test_a_folder_with_another_stages_results_is_refused(tmp_path):
    write_json(str(tmp_path / "results.json"), {"status": "done", "stage": "unlearn"})
    check_stage_owner(str(tmp_path), "unlearn")  # its own: a rerun may replace it
    with pytest.raises(OutputError, match="holds the results of the unlearn stage"):
        check_stage_owner(str(tmp_path), "distribution")
    check_stage_owner(str(tmp_path / "empty"), "distribution")  # nothing there yet
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{trunc")
    check_stage_owner(str(tmp_path / "bad"), "distribution")  # not a finished result of any stage


def test_distribution_into_an_unlearning_run_folder_is_one_error_line(tmp_path, digits_pretrained):
    run = tmp_path / "run"
    results = str(run / "results.json")
    write_json(results, {"status": "done", "stage": "unlearn", "metrics": {"TA": 0.9}})
    before = _digest(results)
    with pytest.raises(SystemExit) as err:
        distribution_main(["-dataset", "digits", "--model_path", digits_pretrained, "--out_dir", str(run),
                           "--device", "cpu"])
    msg = str(err.value.code)
    assert msg.startswith("error: ") and "unlearn stage" in msg and "\n" not in msg
    assert _digest(results) == before and sorted(os.listdir(run)) == ["results.json"]


def test_a_full_disk_is_one_line_and_the_finished_file_stays(tmp_path, monkeypatch):
    import torch
    from unlearning import experiment
    from unlearning.files import atomic_write_text

    target = str(tmp_path / "model.pt")
    experiment.save_checkpoint(target, torch.nn.Linear(2, 2), {"kind": "pretrain"})
    before = _digest(target)

    def to_full_disk(payload, tmp):  # the kernel's answer to a write on a full disk
        with open("/dev/full", "wb") as fh:
            fh.write(b"x" * 65536)
            fh.flush()

    def torch_like(payload, tmp):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0\nfile write failed")

    for writer, needle in ((to_full_disk, "No space left on device"), (torch_like, "file write failed")):
        monkeypatch.setattr(experiment, "torch_save_stable", writer)
        with pytest.raises(OutputError) as err:
            experiment.save_checkpoint(target, torch.nn.Linear(2, 2), {"kind": "pretrain"})
        assert str(err.value).startswith(f"could not write {target}: ") and needle in str(err.value)
        assert "\n" not in str(err.value) and _digest(target) == before
        assert sorted(os.listdir(tmp_path)) == ["model.pt"]  # no temporary file left behind
    os.chmod(tmp_path, 0o500)
    try:
        if os.access(str(tmp_path), os.W_OK):  # root ignores the mode: nothing to check here
            return
        with pytest.raises(OutputError, match="could not write"):
            atomic_write_text(str(tmp_path / "results.json"), "{}")
    finally:
        os.chmod(tmp_path, 0o700)


def test_an_audit_of_other_methods_is_another_folder():
    """The quality audit's folder names the audited methods by content: a rerun with fewer --methods is another
    audit and leaves the first one in place."""
    import argparse
    from unlearning.attacks.reminiscence import ReAConfig
    from unlearning.cli.quality import out_dir_for, scope_tag

    args = argparse.Namespace(log_root="/x", dataset="digits", net="resnet8", forget_class=3, K=4, first_seed=0,
                              recipe=None)
    both = [["negative_grad", 0.1, 0.95], ["negative_grad_our", None, None]]
    one = both[:1]
    cfg = ReAConfig()
    assert out_dir_for(args, cfg, both) != out_dir_for(args, cfg, one)
    assert out_dir_for(args, cfg, both) == out_dir_for(args, cfg, [list(e) for e in both])
    assert scope_tag(one) != scope_tag([["negative_grad", 0.2, 0.95]])  # the knobs are part of the scope
    assert out_dir_for(args, cfg, one).endswith(f"_m-{scope_tag(one)}")


def test_two_masks_with_one_file_name_are_two_runs(tmp_path, digits_pretrained):
    """A mask is part of a run's identity by content: a mask made for another forget class under the same file name
    names another run folder (it never replaces the finished run)."""
    import torch
    from unlearning.cli import unlearn
    from unlearning.cli.args import finish_args
    from unlearning.run_identity import RunIdentity

    dirs = []
    for sub, value in (("forget_3", 1.0), ("forget_5", 0.0)):
        path = tmp_path / "masks" / sub / "mask_0.5.pt"
        path.parent.mkdir(parents=True)
        torch.save({"w": torch.full((2,), value)}, str(path))
        args = finish_args(unlearn.parser("digits").parse_args([
            "-method", "salun", "--mask_path", str(path), "--log_root", str(tmp_path), "-weight_path",
            digits_pretrained, "--device", "cpu"]))
        unlearn.resolve(args)
        dirs.append(RunIdentity.of(args).run_dir)
    assert dirs[0] != dirs[1]
    assert all("_mask-mask_0.5-" in d for d in dirs)


def test_a_reused_file_that_is_malformed_is_one_warning_naming_it(tmp_path, capsys):
    from unlearning.files import read_json_object

    cases = {"trunc.json": '{"fingerprint": "ab', "list.json": "[1, 2]", "null.json": "null", "empty.json": ""}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        assert read_json_object(str(tmp_path / name)) is None
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(cases) and all(any(str(tmp_path / n) + ":" in line for line in err) for n in cases)
    assert read_json_object(str(tmp_path / "missing.json")) is None and capsys.readouterr().err == ""
    (tmp_path / "ok.json").write_text('{"a": 1}')
    assert read_json_object(str(tmp_path / "ok.json")) == {"a": 1}
