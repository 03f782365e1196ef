"""`salescast ...`: parse, call, print. Exit codes: 0 success, 1 partial failure, 2 bad config or input.

The logic lives in the packages; each module here only registers commands on ``app``.
"""

from __future__ import annotations

import logging

import typer

from forecaster.cli.common import app

__all__ = ["app"]


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log details to stderr.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


from forecaster.cli import alerts, backtest, commands, incidents, pipeline, service, web  # noqa: E402,F401  (registers the commands)
