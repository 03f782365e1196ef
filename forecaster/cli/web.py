"""`salescast web`: the review dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from forecaster.cli.common import ConfigOption, app, err, opened_store, out


@app.command()
def web(
    config: Optional[Path] = ConfigOption,
    host: Optional[str] = typer.Option(None, "--host", help="Address to listen on (default: web.host, 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", min=1, max=65535, help="Port (default: web.port, 8050)."),
) -> None:
    """Serve the review dashboard: forecasts, accuracy, incidents and feedback, KPIs."""
    import uvicorn

    from forecaster.web import create_app
    from forecaster.web.common import actions_enabled

    with opened_store(config) as (resolved, store):
        bind, listen = host or resolved.web.host, port or resolved.web.port
        if not actions_enabled(resolved):
            err.print("no web.token configured: the dashboard is read-only (no acknowledge, snooze or feedback)", highlight=False)
        out.print(f"salescast dashboard on http://{bind}:{listen} (store {store.where}); Ctrl+C stops it", highlight=False)
        uvicorn.run(create_app(resolved, store), host=bind, port=listen, log_level="warning")
