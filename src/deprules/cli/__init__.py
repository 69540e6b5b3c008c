"""The command line. Click lives only here; every command calls a library function."""

from .main import cli, main

__all__ = ["cli", "main"]
