"""The one progress helper (unlearning/runtime.py Progress): counts, elapsed time and an ETA from a fake clock."""
import io

from unlearning.metrics.representation import _TSNEIterations
from unlearning.runtime import Progress, fmt_duration


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_eta_is_the_mean_time_per_item_times_what_is_left():
    clock, out = Clock(), io.StringIO()
    bar = Progress(8, "[quality] models", stream=out, clock=clock)  # a StringIO is no terminal: lines, every 10 s
    clock.t += 30  # item 1 after 30 s: 7 left at 30 s each
    bar.update(note="retrain seed 0")
    clock.t += 5   # 35 s for 2: 17.5 s each, 6 left → 105 s; only 5 s since the last line: not written
    bar.update()
    clock.t += 10  # 45 s for 3: 15 s each, 5 left → 75 s
    bar.update()
    assert out.getvalue().splitlines() == [
        "[quality] models 1/8 (12%) | elapsed 00:30, ETA 03:30 | retrain seed 0",
        "[quality] models 3/8 (38%) | elapsed 00:45, ETA 01:15 | retrain seed 0",
    ]
    assert bar.line() == "[quality] models 3/8 (38%) | elapsed 00:45, ETA 01:15 | retrain seed 0"


def test_the_last_item_and_close_always_write_a_line_and_off_writes_nothing():
    clock, out = Clock(), io.StringIO()
    with Progress(3, "DFME iterations", stream=out, clock=clock) as bar:
        for _ in range(3):
            clock.t += 1
            bar.update()
    assert out.getvalue() == "DFME iterations 3/3 (100%) | elapsed 00:03, ETA 00:00\n"
    clock2, out2 = Clock(), io.StringIO()
    with Progress(50, "t-SNE", stream=out2, clock=clock2) as bar:
        for _ in range(20):
            clock2.t += 2
            bar.update()
    # 10 s apart: items 5, 10, 15, 20, then close has nothing new to write
    assert [line.split(" |")[0] for line in out2.getvalue().splitlines()] == [f"t-SNE {n}/50 (" + f"{2 * n}%)"
                                                                             for n in (5, 10, 15, 20)]
    silent = io.StringIO()
    with Progress(2, "x", enabled=False, stream=silent, clock=Clock()) as bar:
        bar.update(2)
    assert silent.getvalue() == ""


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_one_line_redrawn_in_place():
    clock, out = Clock(), Terminal()
    with Progress(2, "ReA relearning runs", stream=out, clock=clock) as bar:
        clock.t += 1
        bar.update()
        clock.t += 1
        bar.update()
    assert out.getvalue() == ("\r\033[KReA relearning runs 1/2 (50%) | elapsed 00:01, ETA 00:01"
                              "\r\033[KReA relearning runs 2/2 (100%) | elapsed 00:02, ETA 00:00\n")


def test_durations_and_the_tsne_reader():
    assert [fmt_duration(s) for s in (0, 59.6, 61, 3599, 3600, 7384)] == ["00:00", "01:00", "01:01", "59:59",
                                                                         "1:00:00", "2:03:04"]
    clock, out = Clock(), io.StringIO()
    bar = Progress(1000, "t-SNE of 10 points: iteration", stream=out, every=0, clock=clock)
    reader = _TSNEIterations(bar)
    clock.t += 4
    reader.write("[t-SNE] Computing 91 nearest neighbors...\n[t-SNE] Iteration 50: error = 1.0, gradient")
    assert out.getvalue() == ""  # the iteration line is not finished yet
    reader.write(" norm = 0.1 (50 iterations in 0.1s)\n")
    assert out.getvalue() == "t-SNE of 10 points: iteration 50/1000 (5%) | elapsed 00:04, ETA 01:16\n"
