"""Every API error is a JSON ``{"error": message}`` with a 4xx status that names the problem."""

from __future__ import annotations

import json
import logging
from typing import Iterable

from aiohttp import web

from ..errors import BystanderError, InputError, RegistrationError

log = logging.getLogger(__name__)

_ERRORS = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
           405: web.HTTPMethodNotAllowed, 409: web.HTTPConflict, 413: web.HTTPRequestEntityTooLarge,
           415: web.HTTPUnsupportedMediaType, 422: web.HTTPUnprocessableEntity, 429: web.HTTPTooManyRequests,
           500: web.HTTPInternalServerError}


def error(status: int, message: str, headers: dict | None = None, allowed: Iterable[str] = ()) -> web.HTTPException:
    kwargs: dict = {"text": json.dumps({"error": message}), "content_type": "application/json", "headers": headers}
    if status == 413:
        kwargs.update(max_size=0, actual_size=0)
    if status == 405:
        kwargs.update(method="", allowed_methods=allowed)
    return _ERRORS[status](**kwargs)


@web.middleware
async def errors_as_json(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type != "application/json" and request.path.startswith("/api"):
            raise error(exc.status if exc.status in _ERRORS else 400, exc.reason,
                        allowed=getattr(exc, "allowed_methods", ())) from None
        raise
    except RegistrationError as exc:
        raise error(422, str(exc)) from None
    except (InputError, BystanderError) as exc:
        raise error(415 if isinstance(exc, InputError) else 400, str(exc)) from None
    except Exception as exc:  # a bug: one line in the log, no traceback (it may hold request data)
        log.error("%s %s failed: %s", request.method, request.path, type(exc).__name__)
        raise error(500, "internal error: the server could not handle this request") from None
