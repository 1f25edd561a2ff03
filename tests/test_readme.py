"""README's quick start is what CI runs."""
import os
import re

from conftest import ROOT


def quick_start():
    text = open(os.path.join(ROOT, "README.md")).read()
    block = re.search(r"## Quick start\s+```bash\n(.*?)```", text, re.S).group(1)
    return [line.strip() for line in block.strip().splitlines()]


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    main_cmd, test_cmd = quick_start()
    assert main_cmd.endswith("python run.py")
    ci = open(os.path.join(ROOT, ".ci", "run")).read().splitlines()
    assert test_cmd in [line.strip() for line in ci]
