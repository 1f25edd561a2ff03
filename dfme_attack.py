"""Black-box extraction (DFME) of an unlearned model, query access only (docs/blackbox.md).

`python dfme_attack.py -dataset digits -method X [--para1 ..]` extracts <run folder>/last.pt into
<run folder>/dfme/<tag>/student.pt; `--model_path CKPT [--out_dir DIR]` extracts any victim checkpoint."""
from unlearning.cli.extraction import main

if __name__ == "__main__":
    main()
