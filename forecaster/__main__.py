"""``python -m forecaster`` is ``salescast``."""

from forecaster.cli import app

app(prog_name="salescast")
