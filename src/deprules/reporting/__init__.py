"""Text renderings for the terminal."""
