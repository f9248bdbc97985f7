"""Builds the FastAPI application: routes, error handlers, lifespan."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from reelhouse import __version__, errors
from reelhouse.accounts.auth import authenticate
from reelhouse.db import get_database
from reelhouse.errors import ReelhouseError, error_body
from reelhouse.jobs import EmbeddedConsumer, get_queue
from reelhouse.logs import configure_logging
from reelhouse.public_url import public_base_url
from reelhouse.settings import get_settings
from reelhouse.storage import get_blob_store
from reelhouse.uploads import FileUploadStore, TusHandler
from reelhouse.uploads.handler import TusHeaders
from reelhouse.videos.intake import VideoIntake
from reelhouse.videos.routes import router as videos_router
from reelhouse.videos.tasks import recover_stalled, video_tasks

log = logging.getLogger(__name__)


def create_app() -> FastAPI:
    configure_logging()
    settings = get_settings()
    database = get_database()
    upload_store = FileUploadStore(settings.data_dir / "uploads")
    tasks = video_tasks()
    intake = VideoIntake(database, get_blob_store(), upload_store, tasks.enqueue)
    tus = TusHandler(
        upload_store,
        intake,
        authenticate,
        lambda request: public_base_url(request, settings),
        max_size=settings.max_upload_bytes,
        lock_timeout=settings.upload_lock_timeout,
        body_timeout=settings.upload_body_timeout,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(database.migrate)
        consumer = None
        if settings.embedded_worker:
            consumer = EmbeddedConsumer(get_queue(), settings.worker_threads)
            consumer.start()
        await run_in_threadpool(intake.recover)
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
    )
    app.include_router(tus.router)
    app.include_router(videos_router)
    app.add_middleware(TusHeaders, prefix=tus.prefix)
    _add_error_handlers(app)
    return app


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
        return JSONResponse(
            error_body(error.kind, error.message),
            status_code=error.kind.status,
            headers=error.headers,
        )

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

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception(
            "request_failed method=%s route=%s",
            request.method,
            _route_template(request),
        )
        kind = errors.INTERNAL_ERROR
        return JSONResponse(error_body(kind), status_code=kind.status)


def _route_template(request: Request) -> str:
    """The matched route's template: paths of uploads hold their credential."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "(no route)"))
