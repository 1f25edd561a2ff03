"""Rebuild the paper-style tables (Markdown + CSV) and figures in log_files/report/ from every results.json."""
from unlearning.report import main

if __name__ == "__main__":
    main()
