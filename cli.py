"""Run deprules from a checkout: ``python cli.py ...`` is the same as ``deprules ...``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from deprules.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
