"""Black-box extraction (DFME) of an unlearned model, query access only (docs/blackbox.md).

`python dfme_attack.py -dataset digits -method X [--para1 ..]` extracts <run folder>/last.pt into
<run folder>/dfme/<tag>/student.pt; `--model_path CKPT [--out_dir DIR]` extracts any victim checkpoint."""
from unlearning.cli.parsers import dataset_from_argv, dfme_parser

if __name__ == "__main__":
    args = dfme_parser(dataset_from_argv()).parse_args()  # before torch loads: -h and a bad flag answer at once
    from unlearning.cli.extraction import main

    main(args=args)
