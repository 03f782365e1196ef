"""Test hook: SALESCAST_CRASH_AT=after_sync|mid_forecast|before_send kills the process there (SIGKILL)."""

from __future__ import annotations

import os
import signal


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL when SALESCAST_CRASH_AT names ``name``."""
    if os.environ.get("SALESCAST_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
