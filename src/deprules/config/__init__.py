"""Configuration: YAML files validated into frozen, typed objects."""

from .loader import FILES, load_config, parse_set
from .model import Config

__all__ = ["Config", "FILES", "load_config", "parse_set"]
