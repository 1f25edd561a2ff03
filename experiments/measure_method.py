"""Run one unlearning method once on the digits split and print what it did: weights changed, UA (forget-train
accuracy), UA_test (forget-test accuracy), TA (retain-test accuracy). Used to choose the digits preset's knob values.

    python experiments/measure_method.py WEIGHTS METHOD ['{"para1": 2}' ...]

Each JSON argument is merged over the method's digits settings (one run per argument; none = the settings as they are).
"""
import copy
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unlearning.evaluation import accuracy  # noqa: E402
from unlearning.experiment import Experiment, load_model  # noqa: E402
from unlearning.methods import Context, get_method, merge as _merge, method_settings  # noqa: E402
from unlearning.training import Regulariser  # noqa: E402


def measure(exp, weights, name, extra: dict, seed=0) -> dict:
    split = exp.split
    teacher, _ = load_model(weights, exp, net="resnet8")
    model = copy.deepcopy(teacher)
    teacher.requires_grad_(False)
    settings = _merge(method_settings("digits", name), extra)
    ctx = Context(model=model, teacher=teacher, exp=exp, net="resnet8", reg=Regulariser(model), seed=seed,
                  settings=settings)
    start = time.time()
    out = get_method(name).fn(ctx, settings.get("para1"), settings.get("para2"))

    def acc(data, idx):
        return accuracy(out, data, idx, split.targets(data.y[idx]))

    return {"changed": sum(int((p != q).sum()) for p, q in zip(out.parameters(), teacher.parameters())),
            "weights": sum(p.numel() for p in teacher.parameters()),
            "UA": acc(exp.train, split.forget_train), "UA_test": acc(exp.test, split.forget_test),
            "TA": acc(exp.test, split.retain_test), "seconds": time.time() - start}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        sys.exit("usage: measure_method.py WEIGHTS METHOD [JSON ...]")
    weights, name, extras = argv[0], argv[1], argv[2:] or ["{}"]
    exp = Experiment("digits", device="cpu", forget_class=3)
    for extra in extras:
        r = measure(exp, weights, name, json.loads(extra))
        print(f"{name} {extra}: weights changed {r['changed']}/{r['weights']} UA {r['UA']:.3f} "
              f"UA_test {r['UA_test']:.3f} TA {r['TA']:.3f} ({r['seconds']:.1f}s)", flush=True)


if __name__ == "__main__":
    main()
