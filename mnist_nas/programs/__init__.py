"""Programs that are not DVC stages, installed as console scripts (pyproject.toml)."""
