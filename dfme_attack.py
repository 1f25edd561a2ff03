"""Black-box extraction (DFME) of an unlearned model: `python dfme_attack.py -dataset digits -method X [--para1 ..]`
or `--model_path CKPT [--out_dir DIR]` for any victim checkpoint. Writes <run_dir>/dfme/<tag>/student.pt."""
import sys

from unlearning.extraction import main

if __name__ == "__main__":
    dataset = "digits"
    for i, a in enumerate(sys.argv):  # the dataset picks the preset defaults, so read it before parsing
        if a in ("-dataset", "--dataset") and i + 1 < len(sys.argv):
            dataset = sys.argv[i + 1]
        elif a.startswith("--dataset="):
            dataset = a.split("=", 1)[1]
    main(dataset)
