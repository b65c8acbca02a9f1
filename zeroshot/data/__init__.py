"""Small bundled data for demos and tests (see README.md in this folder)."""

from importlib import resources
from pathlib import Path

FEWNERD_SAMPLE = "fewnerd_inter_test_sample.txt"
EXAMPLE_TEXT = "example.txt"


def path(name: str) -> Path:
    """Filesystem path of a bundled data file."""
    return Path(str(resources.files(__name__).joinpath(name)))
