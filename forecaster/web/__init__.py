"""The review dashboard (`salescast web`): forecasts, accuracy, incidents and feedback in a browser."""

from __future__ import annotations

from forecaster.web.app import create_app

__all__ = ["create_app"]
