"""The dashboard application: pages, static files, plotly.js from the installed plotly package, error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from forecaster.settings import Settings
from forecaster.store import Store
from forecaster.web import incidents, kpis, overview, series
from forecaster.web.common import TEMPLATES, NoRuns, message

_STATIC = Path(__file__).parent / "static"


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the plotly package (served locally: no CDN, no internet needed)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def create_app(settings: Settings, store: Store) -> FastAPI:
    """The dashboard over ``store``; actions need ``settings.web.token``."""
    app = FastAPI(title="salescast dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.store = store
    for module in (overview, series, incidents, kpis):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    script = plotly_js()

    @app.get("/assets/plotly.min.js", include_in_schema=False)
    def plotly_script() -> FileResponse:
        return FileResponse(script, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})

    @app.exception_handler(NoRuns)
    def no_runs(request: Request, _exc: NoRuns) -> Response:
        return TEMPLATES.TemplateResponse(request, "empty.html", {"title": "No runs yet", "can_act": False})

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException) -> Response:
        heading = "Not found" if exc.status_code == 404 else "Request refused"
        return message(request, exc.status_code, heading, "There is no such page." if exc.status_code == 404 else str(exc.detail))

    @app.exception_handler(RequestValidationError)
    def bad_request(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return message(request, 400, "Bad request", problems)

    @app.middleware("http")
    async def security_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app
