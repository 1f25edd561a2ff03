"""Rebuild the paper-style tables (Markdown + CSV) and figures in log_files/report/ from every results.json."""
from unlearning.cli.parsers import report_parser

if __name__ == "__main__":
    report_parser().parse_args()  # -h, bad flags: before torch loads (the stage parses again)
    from unlearning.report import main

    main()
