"""Builds the FastAPI application: routes, error handlers, lifespan."""

import logging
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelhouse import __version__, errors
from reelhouse.accounts.routes import router as account_router
from reelhouse.analytics.routes import router as analytics_router
from reelhouse.db import get_database
from reelhouse.errors import ReelhouseError, error_body
from reelhouse.jobs import EmbeddedConsumer, get_queue
from reelhouse.logs import configure_logging
from reelhouse.settings import get_settings
from reelhouse.uploads.handler import TusHeaders
from reelhouse.videos.routes import router as videos_router
from reelhouse.videos.tasks import recover_stalled
from reelhouse.videos.upload_server import upload_server
from reelhouse.web.routes import STATIC
from reelhouse.web.routes import api_router as playback_router
from reelhouse.web.routes import router as web_router

log = logging.getLogger(__name__)

# What browser clients (tus-js-client, Uppy) must be able to read.
EXPOSED_HEADERS = [
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Expires",
    "Upload-Concat",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Content-Disposition",
    "Content-Range",
    "Accept-Ranges",
]


def create_app(migrate: bool = True) -> FastAPI:
    """The application; ``migrate=False`` when the schema is known to be current."""
    configure_logging()
    settings = get_settings()
    database = get_database()
    uploads = upload_server()
    tus = uploads.handler

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await run_in_threadpool(database.migrate)
        consumer = None
        if settings.embedded_worker:
            consumer = EmbeddedConsumer(get_queue(), settings.worker_threads)
            consumer.start()
        await run_in_threadpool(uploads.intake.recover)
        await run_in_threadpool(recover_stalled)
        try:
            yield
        finally:
            if consumer is not None:
                consumer.stop()

    app = FastAPI(
        title="Reelhouse",
        version=__version__,
        summary="Upload over tus, compress, search and download videos.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    _add_docs(app)
    app.include_router(tus.router)
    app.include_router(videos_router)
    app.include_router(analytics_router)
    app.include_router(account_router)
    app.include_router(web_router)
    app.include_router(playback_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Innermost first: an unexpected error's 500 still passes through the tus
    # and CORS headers on its way out.
    app.add_middleware(ErrorBoundary)
    app.add_middleware(TusHeaders, prefix=tus.prefix)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
        max_age=86400,
    )
    _add_error_handlers(app)
    _document_errors(app)
    return app


def _document_errors(app: FastAPI) -> None:
    """FastAPI documents a 422 for invalid parameters; Reelhouse answers those
    with the catalogue's 400, in its own error shape."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_docs(app: FastAPI) -> None:
    """Interactive API docs served from this server: no CDN is reachable from
    every place Reelhouse runs."""
    app.mount(
        "/docs/assets",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="docs-assets",
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Reelhouse API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ReelhouseError)
    async def reelhouse_error(request: Request, error: ReelhouseError) -> JSONResponse:
        # Some clients never show an error body (tus.py), so the reason is
        # logged here too.
        log.info(
            "request_rejected method=%s route=%s code=%s",
            request.method,
            _route_template(request),
            error.kind.code,
        )
        body = error_body(error.kind, error.message)
        if request.url.path.startswith("/v1/"):
            # Segment's libraries read the code and message at the top level
            # of an ingestion error; they are repeated there for them.
            body.update(code=error.kind.code, message=error.message)
        return JSONResponse(body, status_code=error.kind.status, headers=error.headers)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException) -> JSONResponse:
        kind = {
            404: errors.NOT_FOUND,
            405: errors.METHOD_NOT_ALLOWED,
        }.get(error.status_code, errors.INVALID_REQUEST)
        return JSONResponse(
            error_body(kind), status_code=kind.status, headers=error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(
        _request: Request, error: RequestValidationError
    ) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        kind = errors.INVALID_REQUEST
        return JSONResponse(error_body(kind, problems), status_code=kind.status)


def _route_template(request: Request) -> str:
    """The matched route's template: paths of uploads hold their credential."""
    return _template(request.scope)


def _template(scope: Scope) -> str:
    return str(getattr(scope.get("route"), "path", "(no route)"))


class ErrorBoundary:
    """Turns an unexpected exception into the catalogue's 500.

    It logs the failure once, by route, exception type and source line, but
    not the exception's message or the request's path: both can carry an
    upload id, which is the upload's credential. Nothing is raised on, so the
    server does not log it a second time.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:
            frame = traceback.extract_tb(error.__traceback__)[-1]
            log.error(
                "request_failed method=%s route=%s error=%s at=%s:%s",
                scope["method"],
                _template(scope),
                type(error).__name__,
                Path(frame.filename).name,
                frame.lineno,
            )
            if not started:
                kind = errors.INTERNAL_ERROR
                response = JSONResponse(error_body(kind), status_code=kind.status)
                await response(scope, receive, send)
