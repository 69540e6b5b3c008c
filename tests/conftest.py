import sys
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def setup():
    from deprules.workspace import load_setup

    return load_setup(ROOT / "config", ROOT / "rules")


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    """A generated extract of 2,000 accounts (seed 7), CSV."""
    from deprules.extract import generate_extract, write_extract

    folder = tmp_path_factory.mktemp("gen2000") / "extract"
    write_extract(generate_extract(2000, seed=7), folder, "csv")
    return folder


@pytest.fixture(scope="session")
def generated_parquet(tmp_path_factory) -> Path:
    """The 2,000 accounts of ``generated`` as Parquet in small row groups."""
    from deprules.extract import generate_extract, write_extract

    folder = tmp_path_factory.mktemp("gen2000pq") / "extract"
    write_extract(generate_extract(2000, seed=7), folder, "parquet", row_group_rows=1024)
    return folder
