"""deprules: deposit refund rules (CC&B process 3.3.3.1) driven by YAML configuration."""

__version__ = "0.1.0"
