"""The aiohttp application: JSON API under /api (bearer token), pages and /healthz open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
from aiohttp import web

from ..engine import Engine, EngineConfig
from ..errors import BystanderError, InputError, RegistrationError
from ..live.ingest import ListenAddress
from ..live.schedule import DETECT_THREADS, DOWNSCALED_THRESHOLD
from ..live.secret import mask_url
from ..media.image import IMAGE_SUFFIXES, read_photo
from ..media.redact_photo import redact_photo
from ..media.redact_video import redact_video
from ..registry import Registry, embed_registration_photo
from ..registry.store import check_name
from .auth import Auth
from .gallery import Gallery, Item
from .jobs import Job, Jobs
from .live import LiveRunner, LiveSettings
from .whip import WebRtcSource
from .whip import answer as whip_answer
from .openapi import SPEC

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
OPEN = {"/healthz", "/openapi.json", "/api/setup", "/api/login"}
PHOTO_TYPES = IMAGE_SUFFIXES - {".gif"}  # GIFs are mostly animations: not taken as photos here
VIDEO_TYPES = {".mp4", ".mov", ".mkv", ".webm", ".m4v", ".avi"}


_ERRORS = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 404: web.HTTPNotFound, 409: web.HTTPConflict,
           413: web.HTTPRequestEntityTooLarge, 415: web.HTTPUnsupportedMediaType,
           422: web.HTTPUnprocessableEntity}


def error(status: int, message: str) -> web.HTTPException:
    kwargs = {"max_size": 0, "actual_size": 0} if status == 413 else {}
    return _ERRORS[status](text=json.dumps({"error": message}), content_type="application/json", **kwargs)


@web.middleware
async def errors_as_json(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type != "application/json" and request.path.startswith("/api"):
            raise error(exc.status if exc.status in _ERRORS else 400, exc.reason) from None
        raise
    except RegistrationError as exc:
        raise error(422, str(exc)) from None
    except (InputError, BystanderError) as exc:
        raise error(415 if isinstance(exc, InputError) else 400, str(exc)) from None


@web.middleware
async def require_token(request: web.Request, handler):
    if request.path.startswith("/api") and request.path not in OPEN:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else request.query.get("token")
        if not request.app["auth"].check(token):
            raise error(401, "sign in first: missing or expired token")
    return await handler(request)


class App:
    def __init__(self, home: Path, max_upload_mb: int = 500, config: EngineConfig = EngineConfig(),
                 rtmp_listen: str = "rtmp://0.0.0.0:1935/live"):
        self.home = home
        self.listen = ListenAddress.parse(rtmp_listen)
        self.live_settings = LiveSettings(home / "live.json")
        self.live = LiveRunner()
        self.whip = None  # the browser's peer connection while it is live
        self.max_upload = max_upload_mb * 1024 * 1024
        self.config = config
        self.auth = Auth(home / "admin.json")
        self.gallery = Gallery(home / "gallery")
        self.jobs = Jobs(home / "jobs")
        self.uploads = home / "uploads"
        shutil.rmtree(self.uploads, ignore_errors=True)  # partial uploads of a previous run
        self.uploads.mkdir(parents=True)
        self._detector = Engine(config=config).detector  # shared: onnxruntime sessions are thread-safe

    def registry(self) -> Registry:
        return Registry(self.home / "registry.sqlite3")

    def engine(self) -> Engine:
        """An engine with the registry as it is now; its own recogniser (OpenCV's dnn is not thread-safe)."""
        with self.registry() as reg:
            return Engine(reg.gallery(), self.config, detector=self._detector)

    def live_engine(self) -> Engine:
        """The engine under live mode's detection settings (``live.schedule``)."""
        return self.engine().with_config(threads=DETECT_THREADS, downscaled_threshold=DOWNSCALED_THRESHOLD)

    # Uploads stream to disk; more than the limit is refused and nothing is kept.
    async def save_upload(self, field, allowed: set[str], kind: str) -> Path:
        name = Path(field.filename or "upload").name
        suffix = Path(name).suffix.lower()
        if suffix not in allowed:
            raise error(415, f"{name}: not a {kind} file bystander accepts ({', '.join(sorted(allowed))})")
        dest = self.uploads / f"{self.gallery.new_id()}{suffix}"
        size = 0
        try:
            with open(dest, "wb") as out:
                while chunk := await field.read_chunk(1 << 20):
                    size += len(chunk)
                    if size > self.max_upload:
                        raise error(413, f"{name}: larger than the {self.max_upload // (1024 * 1024)} MB limit")
                    out.write(chunk)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return dest


@contextlib.contextmanager
def named(path: Path, name: str):
    """Errors about an uploaded file name the file the user sent, not where the server put it."""
    try:
        yield
    except BystanderError as exc:
        raise type(exc)(str(exc).replace(str(path), name)) from None


def routes(app: App) -> web.RouteTableDef:
    r = web.RouteTableDef()

    @r.get("/")
    async def index(request):
        return web.FileResponse(STATIC / "index.html")

    @r.get("/healthz")
    async def healthz(request):
        return web.json_response({"ok": True})

    @r.get("/openapi.json")
    async def openapi(request):
        return web.json_response(SPEC)

    @r.get("/api/setup")
    async def setup_state(request):
        return web.json_response({"needed": not app.auth.set_up})

    @r.post("/api/setup")
    async def setup(request):
        if app.auth.set_up:
            raise error(409, "already set up: sign in instead")
        body = await _json(request)
        user, password = str(body.get("username", "")).strip(), str(body.get("password", ""))
        if not user or len(password) < 8:
            raise error(400, "choose a user name and a password of at least 8 characters")
        app.auth.create_admin(user, password)
        return web.json_response({"token": app.auth.issue()}, status=201)

    @r.post("/api/login")
    async def login(request):
        body = await _json(request)
        token = app.auth.login(str(body.get("username", "")), str(body.get("password", "")))
        if token is None:
            raise error(401, "wrong user name or password")
        return web.json_response({"token": token})

    @r.get("/api/people")
    async def people(request):
        with app.registry() as reg:
            return web.json_response([p.as_dict() for p in reg.people()])

    @r.post("/api/people")
    async def add_person(request):
        """multipart: ``name`` and one or more ``shot`` images. All shots are checked before any is saved."""
        reader = await request.multipart()
        name, shots = None, []
        try:
            while (field := await reader.next()) is not None:
                if field.name == "name":
                    name = (await field.text()).strip()
                elif field.name == "shot":
                    shots.append((Path(field.filename or "shot").name,
                                  await app.save_upload(field, PHOTO_TYPES, "photo")))
            if not name:
                raise error(400, "give the person a name")
            check_name(name)
            if not shots:
                raise error(400, "add at least one shot of the face")
            engine = app.engine()

            def embed():
                vectors = []
                for i, (label, path) in enumerate(shots, 1):
                    with named(path, f"shot {i} ({label})"):
                        image = read_photo(path).bgr
                    vectors.append(embed_registration_photo(engine, image, f"shot {i} ({label})"))
                return np.stack(vectors)

            vectors = await asyncio.get_running_loop().run_in_executor(None, embed)
            with app.registry() as reg:
                person = reg.add(name, vectors, [label for label, _ in shots])
            return web.json_response(person.as_dict(), status=201)
        finally:
            for _, path in shots:  # registration photos are never kept, only their embeddings
                path.unlink(missing_ok=True)

    @r.delete("/api/people/{name}")
    async def remove_person(request):
        with app.registry() as reg:
            if not reg.remove(request.match_info["name"]):
                raise error(404, f"no registered person called {request.match_info['name']}")
        return web.Response(status=204)

    @r.post("/api/photos")
    async def photo(request):
        src = await _single_upload(request, app, PHOTO_TYPES, "photo")
        try:
            item_id = app.gallery.new_id()
            dst = app.gallery.path_for(item_id, src.suffix if src.suffix != ".jpeg" else ".jpg")
            engine = app.engine()
            def run():
                with named(src, request["upload_name"]):
                    return redact_photo(engine, src, dst, 50_000_000)

            report = await asyncio.get_running_loop().run_in_executor(None, run)
            item = app.gallery.add(Item(item_id, "photo", Path(request["upload_name"]).stem, dst.name, Gallery.now(),
                                        report["redacted"], report["kept"]))
            return web.json_response(item.as_dict(), status=201)
        finally:
            src.unlink(missing_ok=True)

    @r.post("/api/videos")
    async def video(request):
        src = await _single_upload(request, app, VIDEO_TYPES, "video")
        from ..media.video import open_input
        try:
            with named(src, request["upload_name"]):
                open_input(src).close()  # refuse what is not a video now, not in the background
        except BystanderError:
            src.unlink(missing_ok=True)
            raise
        job = Job(app.gallery.new_id(), request["upload_name"])
        engine = app.engine()

        def work(progress) -> str:
            try:
                dst = app.gallery.path_for(job.id, ".mp4")
                with named(src, job.name):
                    result = redact_video(engine, src, dst, progress=progress)
                app.gallery.add(Item(job.id, "video", Path(job.name).stem, dst.name, Gallery.now(),
                                     result.faces_redacted, None))
                return job.id
            finally:
                src.unlink(missing_ok=True)

        app.jobs.submit(job, work)
        return web.json_response(job.as_dict(), status=202)

    @r.get("/api/jobs")
    async def jobs(request):
        return web.json_response([j.as_dict() for j in app.jobs.all()])

    @r.get("/api/jobs/{id}")
    async def job(request):
        return web.json_response(_found(app.jobs.get(request.match_info["id"]), "job").as_dict())

    @r.get("/api/gallery")
    async def gallery(request):
        return web.json_response([i.as_dict() for i in app.gallery.items()])

    @r.get("/api/gallery/{id}/file")
    async def gallery_file(request):
        item = _found(app.gallery.get(request.match_info["id"]), "item")
        path = app.gallery.folder / item.file
        disposition = "attachment" if request.query.get("download") else "inline"
        return web.FileResponse(path, headers={
            "Content-Disposition": f'{disposition}; filename="{item.name}-redacted{path.suffix}"'})

    @r.get("/api/live")
    async def live_state(request):
        host = request.url.host if app.listen.host in ("0.0.0.0", "::") else app.listen.host
        key = app.live_settings.ingest_key
        return web.json_response({
            "ingest": {"rtmp_url": f"rtmp://{host}:{app.listen.port}/{app.listen.app}",
                       "stream_key": "****" + key[-4:]},
            "destinations": [LiveSettings.public(d) for d in app.live_settings.destinations()],
            "running": app.live.running, "status": app.live.status, "error": app.live.error})

    @r.post("/api/live/key")
    async def live_key(request):
        """A new ingest stream key, returned this once."""
        return web.json_response({"stream_key": app.live_settings.new_ingest_key()}, status=201)

    @r.post("/api/live/destinations")
    async def add_destination(request):
        body = await _json(request)
        name, url = str(body.get("name", "")).strip(), str(body.get("url", "")).strip()
        key = str(body.get("key", "")).strip()
        if key:
            url = url.rstrip("/") + "/" + key
        if not name or not url.startswith(("rtmp://", "rtmps://")):
            raise error(400, "a destination needs a name and an rtmp:// or rtmps:// URL (and its stream key)")
        return web.json_response(LiveSettings.public(app.live_settings.add_destination(name, url)), status=201)

    @r.delete("/api/live/destinations/{id}")
    async def remove_destination(request):
        if not app.live_settings.remove_destination(request.match_info["id"]):
            raise error(404, "no such destination")
        return web.Response(status=204)

    @r.post("/api/live/start")
    async def live_start(request):
        if app.live.running:
            raise error(409, "already live")
        urls = [d["url"] for d in app.live_settings.destinations()]
        if not urls:
            raise error(400, "add a destination first (YouTube, Twitch: URL and stream key)")
        engine = app.live_engine()
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: app.live.start_rtmp(engine, app.listen, app.live_settings.ingest_key, urls))
        return web.json_response({"running": True, "destinations": [mask_url(u) for u in urls]}, status=202)

    @r.post("/api/live/whip")
    async def whip(request):
        """WHIP: an SDP offer from the browser in, the SDP answer out; the relay starts at once."""
        if app.live.running:
            raise error(409, "already live")
        if request.content_type != "application/sdp":
            raise error(415, "WHIP expects an application/sdp offer")
        urls = [d["url"] for d in app.live_settings.destinations()]
        if not urls:
            raise error(400, "add a destination first (YouTube, Twitch: URL and stream key)")
        source = WebRtcSource()
        try:
            pc, sdp = await whip_answer(await request.text(), source)
        except ValueError as exc:
            raise error(400, f"the offer could not be used: {exc}") from None
        loop = asyncio.get_running_loop()
        app.whip = pc
        app.live.start(app.live_engine(), source, urls,
                       on_end=lambda: asyncio.run_coroutine_threadsafe(pc.close(), loop))
        return web.Response(status=201, text=sdp, content_type="application/sdp",
                            headers={"Location": "/api/live/whip"})

    @r.delete("/api/live/whip")
    async def whip_stop(request):
        if app.whip is not None:
            await app.whip.close()
            app.whip = None
        await asyncio.get_running_loop().run_in_executor(None, app.live.stop)
        return web.Response(status=204)

    @r.get("/api/live/preview.jpg")
    async def live_preview(request):
        data = await asyncio.get_running_loop().run_in_executor(None, app.live.preview_jpeg)
        if data is None:
            raise error(404, "not live")
        return web.Response(body=data, content_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @r.post("/api/live/stop")
    async def live_stop(request):
        await asyncio.get_running_loop().run_in_executor(None, app.live.stop)
        return web.json_response({"running": app.live.running, "status": app.live.status})

    @r.delete("/api/gallery/{id}")
    async def gallery_remove(request):
        if not app.gallery.remove(request.match_info["id"]):
            raise error(404, "no such item")
        return web.Response(status=204)

    return r


def _found(value, what: str):
    if value is None:
        raise error(404, f"no such {what}")
    return value


async def _json(request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise error(400, "expected a JSON body") from None
    if not isinstance(body, dict):
        raise error(400, "expected a JSON object")
    return body


async def _single_upload(request, app: App, allowed, kind) -> Path:
    if not request.content_type.startswith("multipart/"):
        raise error(400, f"upload the {kind} as multipart/form-data, field 'file'")
    reader = await request.multipart()
    field = await reader.next()
    if field is None or field.name != "file":
        raise error(400, f"no 'file' field with the {kind}")
    request["upload_name"] = Path(field.filename or kind).name
    return await app.save_upload(field, allowed, kind)


def create_app(home: Path, max_upload_mb: int = 500, config: EngineConfig = EngineConfig(),
               rtmp_listen: str = "rtmp://0.0.0.0:1935/live") -> web.Application:
    state = App(home, max_upload_mb, config, rtmp_listen)
    web_app = web.Application(middlewares=[errors_as_json, require_token],
                              client_max_size=state.max_upload + (1 << 20))
    web_app["auth"] = state.auth
    web_app["state"] = state
    web_app.add_routes(routes(state))
    web_app.router.add_static("/static", STATIC)
    web_app.on_cleanup.append(lambda _: _close(state))
    return web_app


async def _close(state: App) -> None:
    with contextlib.suppress(Exception):
        state.jobs.close()
    with contextlib.suppress(Exception):
        state.live.stop()

