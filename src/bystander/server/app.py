"""The aiohttp application: JSON API under /api (bearer token, or the session cookie for media),
pages and /healthz open."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from pathlib import Path

import numpy as np
from aiohttp import web

from ..engine import Engine, EngineConfig
from ..errors import BystanderError, InputError, RegistrationError
from ..live.ingest import ListenAddress
from ..live.schedule import live_settings
from ..live.secret import mask_url
from ..media.image import IMAGE_SUFFIXES, read_photo
from ..media.limits import DEFAULT_MAX_PIXELS, DEFAULT_MAX_VIDEO_PIXELS
from ..media.redact_photo import redact_photo
from ..media.redact_video import VIDEO_SUFFIXES
from ..registry import Registry, embed_registration_photo
from ..registry.store import check_name
from .auth import SESSION_TTL, AlreadySetUp, Auth
from .errors import error, errors_as_json
from .gallery import Gallery, Item
from .guard import body_limit, host_and_origin, security_headers
from .jobs import Job, Jobs
from .limits import SMALL_BODY
from .live import LiveRunner, LiveSettings, split_destination
from .network import lan_addresses, qr_data_uri, url_for
from .openapi import SPEC
from .shots import Pose, check_shot
from .throttle import Throttle
from .uploads import clean_name, content_disposition, malformed_multipart, parts, save, text_field
from .whip import BadOffer, WebRtcSource
from .whip import IceServer, answer as whip_answer

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
OPEN = {"/healthz", "/openapi.json", "/manifest.webmanifest", "/api/setup", "/api/login", "/api/logout",
        "/api/network"}
PHOTO_TYPES = IMAGE_SUFFIXES - {".gif"}  # GIFs are mostly animations: not taken as photos here
COOKIE = "bystander_session"
SECRET_FILES = ("admin.json", "live.json", "registry.sqlite3", "registry.sqlite3-wal", "registry.sqlite3-shm",
                "registry.sqlite3-journal")


def _token(request: web.Request) -> str | None:
    """The bearer token; for reads only, the HttpOnly session cookie (how <img> and <video> sign
    in without a token in the URL). A change needs the header, which no other site can set."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:]
    return request.cookies.get(COOKIE) if request.method in ("GET", "HEAD") else None


@web.middleware
async def require_token(request: web.Request, handler):
    if request.path.startswith("/api") and request.path not in OPEN:
        token = _token(request)
        # A WHIP encoder (OBS, a phone app) publishes with the WHIP token, which opens nothing else.
        whip = request.path == "/api/live/whip" and request.method in ("POST", "DELETE") and token is not None
        if not request.app["auth"].check(token) and not (
                whip and request.app["state"].live_settings.whip_token_ok(token)):
            raise error(401, "sign in first: missing or expired session")
    return await handler(request)


class App:
    def __init__(self, home: Path, max_upload_mb: int = 500, config: EngineConfig = EngineConfig(),
                 rtmp_listen: str = "rtmp://0.0.0.0:1935/live", session_ttl: float = SESSION_TTL,
                 max_pixels: int = DEFAULT_MAX_PIXELS, max_video_pixels: int = DEFAULT_MAX_VIDEO_PIXELS,
                 bind_host: str = "127.0.0.1", ice_servers: tuple[IceServer, ...] = ()):
        self.home = home
        self.bind_host = bind_host
        self.ice_servers = ice_servers
        _private(home)
        self.listen = ListenAddress.parse(rtmp_listen)
        self.live_settings = LiveSettings(home / "live.json")
        self.live = LiveRunner()
        self.whip = None  # the browser's peer connection while it is live
        self.max_upload = max_upload_mb * 1024 * 1024
        self.max_pixels, self.max_video_pixels = max_pixels, max_video_pixels
        self.config = config
        self.auth = Auth(home / "admin.json", session_ttl)
        self.throttle = Throttle()
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
        return self.engine().with_config(**live_settings())

    async def save_upload(self, field, allowed: set[str], kind: str) -> tuple[str, Path]:
        """(the name the user gave, where it was saved) of one uploaded file of an ``allowed`` type."""
        name = clean_name(field.filename, kind)
        suffix = Path(name).suffix.lower()
        if suffix not in allowed:
            raise error(415, f"{name}: not a {kind} file bystander accepts ({', '.join(sorted(allowed))})")
        return name, await save(field, self.uploads / f"{self.gallery.new_id()}{suffix}", self.max_upload, name)


def _private(home: Path) -> None:
    """The data folder holds embeddings, the admin hash and stream keys: owner only, also for
    files an older version (or the CLI) created readable by all."""
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    for name in SECRET_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(home / name, 0o600)


@contextlib.contextmanager
def named(path: Path, name: str):
    """Errors about an uploaded file name the file the user sent, not where the server put it."""
    try:
        yield
    except BystanderError as exc:
        raise type(exc)(str(exc).replace(str(path), name)) from None


def routes(app: App) -> web.RouteTableDef:
    r = web.RouteTableDef()
    loop = asyncio.get_running_loop

    @r.get("/")
    async def index(request):
        return web.FileResponse(STATIC / "index.html")

    @r.get("/manifest.webmanifest")
    async def manifest(request):
        return web.FileResponse(STATIC / "manifest.webmanifest",
                                headers={"Content-Type": "application/manifest+json"})

    @r.get("/api/network")
    async def network(request):
        """Where a phone on the same network opens this page, with a QR code for each address."""
        scheme = "https" if request.secure else "http"
        port = request.url.port or (443 if request.secure else 80)
        urls = [url_for(scheme, a, port) for a in lan_addresses(app.bind_host)]
        return web.json_response({"https": request.secure, "listening_on_lan": bool(urls),
                                  "urls": [{"url": u, "qr": qr_data_uri(u)} for u in urls]})

    @r.get("/healthz")
    async def healthz(request):
        return web.json_response({"ok": True})

    @r.get("/openapi.json")
    async def openapi(request):
        return web.json_response(SPEC)

    def throttled(request) -> str:
        """The client's address, once it may try to sign in again (429 with Retry-After until then)."""
        client = request.remote or "unknown"
        if wait := app.throttle.wait(client):
            raise error(429, f"too many failed attempts: try again in {wait} s", {"Retry-After": str(wait)})
        app.throttle.attempt(client)
        return client

    def signed_in(request, status: int) -> web.Response:
        token = app.auth.issue()
        response = web.json_response({"token": token}, status=status)
        response.set_cookie(COOKIE, token, max_age=int(app.auth.session_ttl), path="/api", httponly=True,
                            samesite="Strict", secure=request.secure)
        return response

    @r.get("/api/setup")
    async def setup_state(request):
        return web.json_response({"needed": not app.auth.set_up})

    @r.post("/api/setup")
    async def setup(request):
        if app.auth.set_up:
            raise error(409, "already set up: sign in instead")
        client = throttled(request)
        body = await _json(request)
        if not app.auth.setup_code_ok(_text(body, "setup_code")):
            raise error(403, "wrong or missing setup_code: give the first-run setup code that "
                             "`bystander serve` printed on its console")
        user, password = _text(body, "username").strip(), _text(body, "password")
        if not user or len(user) > 64 or not user.isprintable() or len(password) < 8:
            raise error(400, "choose a user name (up to 64 printable characters) and a password of at least "
                             "8 characters")
        try:
            await loop().run_in_executor(None, app.auth.create_admin, user, password)
        except AlreadySetUp:
            raise error(409, "already set up: sign in instead") from None
        app.throttle.succeeded(client)
        return signed_in(request, 201)

    @r.post("/api/login")
    async def login(request):
        client = throttled(request)
        body = await _json(request)
        user, password = _text(body, "username"), _text(body, "password")
        if not await loop().run_in_executor(None, app.auth.verify, user, password):
            raise error(401, "wrong user name or password")
        app.throttle.succeeded(client)
        return signed_in(request, 200)

    @r.post("/api/logout")
    async def logout(request):
        app.auth.revoke(_token(request) or request.cookies.get(COOKIE))
        response = web.Response(status=204)
        response.del_cookie(COOKIE, path="/api")
        return response

    @r.get("/api/people")
    async def people(request):
        with app.registry() as reg:
            return web.json_response([p.as_dict() for p in reg.people()])

    @r.post("/api/people")
    async def add_person(request):
        """multipart: ``name`` and one or more ``shot`` images. All shots are checked before any is saved."""
        name, shots = None, []
        try:
            with malformed_multipart():
                async for field in parts(request):
                    if field.name == "name":
                        name = (await text_field(field, "name")).strip()
                    elif field.name == "shot":
                        shots.append(await app.save_upload(field, PHOTO_TYPES, "photo"))
            if not name:
                raise error(400, "give the person a name")
            check_name(name)
            if not shots:
                raise error(400, "add at least one shot of the face")
            engine = app.engine()

            def embed():
                vectors = []
                for i, (label, path) in enumerate(shots, 1):
                    with named(path, f"shot {i} ({label})"), unreadable(f"shot {i} ({label})", "photo"):
                        image = read_photo(path, app.max_pixels).bgr
                    checked = check_shot(engine, image)
                    if not checked.ok:
                        raise RegistrationError(f"shot {i} ({label}): {checked.problem}")
                    vectors.append(embed_registration_photo(engine, image, f"shot {i} ({label})"))
                return np.stack(vectors)

            vectors = await loop().run_in_executor(None, embed)
            with app.registry() as reg:
                person = reg.add(name, vectors, [label for label, _ in shots])
            return web.json_response(person.as_dict(), status=201)
        finally:
            for _, path in shots:  # registration photos are never kept, only their embeddings
                path.unlink(missing_ok=True)

    @r.post("/api/people/check")
    async def check_person_shot(request):
        """multipart: one ``shot``, the ``pose`` the guide asked for and the ``name`` being registered
        (optional); what registration would say of it."""
        pose, shot, name = Pose.ANY, None, ""
        try:
            with malformed_multipart():
                async for field in parts(request):
                    if field.name == "pose":
                        try:
                            pose = Pose(await text_field(field, "pose"))
                        except ValueError:
                            raise error(400, f"pose: one of {', '.join(p.value for p in Pose)}") from None
                    elif field.name == "name":
                        name = (await text_field(field, "name")).strip()
                    elif field.name == "shot" and shot is None:
                        shot = await app.save_upload(field, PHOTO_TYPES, "photo")
            if shot is None:
                raise error(400, "no 'shot' field with the photo")
            label, path = shot
            engine = app.engine()  # with the registry as it is now

            def run():
                with named(path, label), unreadable(label, "photo"):
                    return check_shot(engine, read_photo(path, app.max_pixels).bgr, pose, engine.gallery, name)

            return web.json_response((await loop().run_in_executor(None, run)).as_dict())
        finally:
            if shot is not None:
                shot[1].unlink(missing_ok=True)

    @r.delete("/api/people/{name}")
    async def remove_person(request):
        with app.registry() as reg:
            if not reg.remove(request.match_info["name"]):
                raise error(404, f"no registered person called {request.match_info['name']}")
        return web.Response(status=204)

    @r.post("/api/photos")
    async def photo(request):
        name, src = await _single_upload(request, app, PHOTO_TYPES, "photo")
        try:
            item_id = app.gallery.new_id()
            dst = app.gallery.path_for(item_id, src.suffix if src.suffix != ".jpeg" else ".jpg")
            engine = app.engine()

            def run():
                with named(src, name), unreadable(name, "photo"):
                    return redact_photo(engine, src, dst, app.max_pixels)

            report = await loop().run_in_executor(None, run)
            item = app.gallery.add(Item(item_id, "photo", Path(name).stem, dst.name, Gallery.now(),
                                        report["redacted"], report["kept"], others_blurred=report["others_blurred"]))
            return web.json_response(item.as_dict(), status=201)
        finally:
            src.unlink(missing_ok=True)

    @r.post("/api/videos")
    async def video(request):
        name, src = await _single_upload(request, app, VIDEO_SUFFIXES, "video")
        try:
            await loop().run_in_executor(None, _check_video, src, name, app.max_video_pixels)
        except BaseException:
            src.unlink(missing_ok=True)  # the unredacted upload never stays behind
            raise
        job = Job(app.gallery.new_id(), name)
        engine = app.engine()

        def work(progress) -> str:
            try:
                dst = app.gallery.path_for(job.id, ".mp4")
                with named(src, job.name), unreadable(job.name, "video"):
                    result = app.jobs.redact_video(engine, src, dst, progress)
                privacy = result.privacy.as_dict(result.rate)
                app.gallery.add(Item(job.id, "video", Path(job.name).stem, dst.name, Gallery.now(),
                                     result.faces_redacted, [k["person"] for k in privacy["kept"]],
                                     duration=_duration(dst),  # its own timestamps: a recording's rate varies
                                     others_blurred=privacy["others_blurred"], privacy=privacy))
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
            "Content-Disposition": content_disposition(disposition, f"{item.name}-redacted{path.suffix}"),
            "Cache-Control": "private, no-store"})

    @r.get("/api/live")
    async def live_state(request):
        listen = app.listen
        lan = lan_addresses(listen.host) if listen.host in ("0.0.0.0", "::") else []
        if listen.host not in ("0.0.0.0", "::"):
            hosts = [listen.host]
        elif request.url.host and not _loopback(request.url.host):
            hosts = [request.url.host, *(a for a in lan if a != request.url.host)]
        else:  # the page was opened on this machine: a phone or OBS elsewhere needs the LAN address
            hosts = [*lan, request.url.host or "127.0.0.1"]
        settings = app.live_settings
        return web.json_response({
            "ingest": {"rtmp_url": f"rtmp://{hosts[0]}:{listen.port}/{listen.app}",
                       "rtmp_urls": [f"rtmp://{h}:{listen.port}/{listen.app}" for h in hosts],
                       "stream_key": _masked(settings.ingest_key)},
            "whip": {"url": f"{request.scheme}://{request.host}/api/live/whip",
                     "urls": [f"{request.scheme}://{request.host}/api/live/whip",
                              *(url_for(request.scheme, a, request.url.port or 443) + "api/live/whip"
                                for a in lan_addresses(app.bind_host) if a != request.url.host)],
                     "token": _masked(settings.whip_token)},
            "record": settings.record,
            "destinations": [LiveSettings.public(d) for d in settings.destinations()],
            "running": app.live.running, "status": app.live.status, "error": app.live.error})

    @r.post("/api/live/key")
    async def live_key(request):
        """A new ingest stream key."""
        return web.json_response({"stream_key": app.live_settings.new_ingest_key()}, status=201)

    @r.post("/api/live/whip-token")
    async def live_whip_token(request):
        """A new WHIP token: encoders holding the old one can no longer publish."""
        return web.json_response({"token": app.live_settings.new_whip_token()}, status=201)

    @r.get("/api/live/secrets")
    async def live_secrets(request):
        """The ingest key and WHIP token in full, to copy into an encoder; only with the bearer token
        (not the cookie), so no other page can load them."""
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            raise error(401, "sign in first: missing or expired session")
        return web.json_response({"stream_key": app.live_settings.ingest_key,
                                  "whip_token": app.live_settings.whip_token},
                                 headers={"Cache-Control": "no-store"})

    @r.put("/api/live/settings")
    async def live_settings(request):
        body = await _json(request)
        if not isinstance(body.get("record"), bool):
            raise error(400, "record: expected true or false")
        app.live_settings.record = body["record"]
        return web.json_response({"record": app.live_settings.record})

    @r.post("/api/live/destinations")
    async def add_destination(request):
        body = await _json(request)
        name = _text(body, "name").strip()
        if not name or len(name) > 100:
            raise error(400, "a destination needs a name (up to 100 characters)")
        try:
            url, key = split_destination(_text(body, "url").strip(), _text(body, "key").strip())
        except ValueError as exc:
            raise error(400, str(exc)) from None
        return web.json_response(LiveSettings.public(app.live_settings.add_destination(name, url, key)), status=201)

    @r.delete("/api/live/destinations/{id}")
    async def remove_destination(request):
        if not app.live_settings.remove_destination(request.match_info["id"]):
            raise error(404, "no such destination")
        return web.Response(status=204)

    @r.post("/api/live/start")
    async def live_start(request):
        if app.live.running:
            raise error(409, "already live")
        urls = _live_urls(app)
        engine = app.live_engine()
        record, recorded = _recording(app)
        await loop().run_in_executor(
            None, lambda: app.live.start_rtmp(engine, app.listen, app.live_settings.ingest_key, urls,
                                              on_end=recorded, record=record))
        return web.json_response({"running": True, "destinations": [mask_url(u) for u in urls],
                                  "recording": record is not None}, status=202)

    @r.post("/api/live/whip")
    async def whip(request):
        """WHIP: an SDP offer from the browser in, the SDP answer out; the relay starts at once."""
        if app.live.running:
            raise error(409, "already live")
        if request.content_type != "application/sdp":
            raise error(415, "WHIP expects an application/sdp offer")
        urls = _live_urls(app)
        try:
            offer = (await request.read()).decode("utf-8")
        except UnicodeDecodeError:
            raise error(400, "the offer could not be used: not UTF-8 text") from None
        source = WebRtcSource()
        try:
            pc, sdp = await whip_answer(offer, source, app.ice_servers)
        except BadOffer as exc:
            raise error(400, f"the offer could not be used: {exc}") from None
        app.whip = pc
        event_loop = loop()
        record, recorded = _recording(app)

        def ended() -> None:
            asyncio.run_coroutine_threadsafe(pc.close(), event_loop)
            if recorded is not None:
                recorded()

        app.live.start(app.live_engine(), source, urls, on_end=ended, record=record)
        return web.Response(status=201, text=sdp, content_type="application/sdp",
                            headers={"Location": "/api/live/whip"})

    @r.delete("/api/live/whip")
    async def whip_stop(request):
        if app.whip is not None:
            await app.whip.close()
            app.whip = None
        await loop().run_in_executor(None, app.live.stop)
        return web.Response(status=204)

    @r.get("/api/live/preview.jpg")
    async def live_preview(request):
        data = await loop().run_in_executor(None, app.live.preview_jpeg)
        if data is None:
            raise error(404, "not live")
        return web.Response(body=data, content_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @r.post("/api/live/stop")
    async def live_stop(request):
        await loop().run_in_executor(None, app.live.stop)
        return web.json_response({"running": app.live.running, "status": app.live.status})

    @r.delete("/api/gallery/{id}")
    async def gallery_remove(request):
        if not app.gallery.remove(request.match_info["id"]):
            raise error(404, "no such item")
        return web.Response(status=204)

    return r


@contextlib.contextmanager
def unreadable(name: str, kind: str):
    """A decoder failing on an upload is the upload's fault, not a server error: PyAV, OpenCV and
    Pillow raise their own exceptions (UnicodeDecodeError on a broken metadata tag, for one)."""
    try:
        yield
    except BystanderError:
        raise
    except Exception as exc:
        log.warning("%s: unreadable %s (%s)", name, kind, type(exc).__name__)
        raise InputError(f"{name}: not a {kind} bystander can read, or corrupt") from None


def _check_video(src: Path, name: str, max_pixels: int) -> None:
    """Refuse now, not in the background, what is not a video or has frames too large to hold."""
    from ..media.video import FramesTooLarge, open_input

    try:
        with named(src, name), unreadable(name, "video"):
            open_input(src, max_pixels, "raise it with serve --max-video-pixels").close()
    except FramesTooLarge as exc:
        raise error(413, str(exc)) from None


def _loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.") or host in ("::1", "[::1]")


def _masked(secret: str) -> str:
    return "****" + secret[-4:]


def _live_urls(app: App) -> list[str]:
    urls = app.live_settings.urls()
    if not urls and not app.live_settings.record:
        raise error(400, "add a destination first (YouTube, Twitch: URL and stream key), or choose to record only")
    return urls


def _recording(app: App):
    """(where the relay records, what adds the recording to the gallery once it ends), or (None,
    None) when the user did not ask to record. The recording is written atomically: it exists only
    once complete."""
    if not app.live_settings.record:
        return None, None
    item_id = app.gallery.new_id()
    path = app.gallery.path_for(item_id, ".mp4")
    started = Gallery.now()

    def recorded() -> None:
        if not path.exists():
            return
        status = app.live.status or {}
        privacy = status.get("privacy") if isinstance(status.get("privacy"), dict) else None
        kept = [k["person"] for k in privacy.get("kept", [])] if privacy else []
        app.gallery.add(Item(item_id, "video", "Live " + _time_label(started), path.name, Gallery.now(), 0, kept,
                             duration=_duration(path), others_blurred=privacy.get("others_blurred") if privacy else None,
                             privacy=privacy))

    return path, recorded


def _time_label(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H.%M", time.localtime(t))


def _duration(path: Path) -> float | None:
    import av

    try:
        with av.open(str(path)) as c:
            return round(c.duration / 1_000_000, 2) if c.duration else None
    except (av.error.FFmpegError, OSError):
        return None


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


def _text(body: dict, key: str) -> str:
    """A string field of a JSON body ('' when absent); a lone surrogate is refused, not crashed on."""
    value = body.get(key, "")
    if not isinstance(value, str):
        raise error(400, f"{key}: expected a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise error(400, f"{key}: not valid Unicode text (a lone surrogate)") from None
    return value


async def _single_upload(request, app: App, allowed, kind) -> tuple[str, Path]:
    if not request.content_type.startswith("multipart/"):
        raise error(400, f"upload the {kind} as multipart/form-data, field 'file'")
    with malformed_multipart():
        async for field in parts(request):
            if field.name != "file":
                break
            return await app.save_upload(field, allowed, kind)
    raise error(400, f"no 'file' field with the {kind}")


def create_app(home: Path, max_upload_mb: int = 500, config: EngineConfig = EngineConfig(),
               rtmp_listen: str = "rtmp://0.0.0.0:1935/live", session_ttl: float = SESSION_TTL,
               max_pixels: int = DEFAULT_MAX_PIXELS, max_video_pixels: int = DEFAULT_MAX_VIDEO_PIXELS,
               allowed_hosts: tuple[str, ...] = ("127.0.0.1",), bind_host: str = "127.0.0.1",
               ice_servers: tuple[IceServer, ...] = ()) -> web.Application:
    state = App(home, max_upload_mb, config, rtmp_listen, session_ttl, max_pixels, max_video_pixels, bind_host,
                ice_servers)
    # Order: errors wrap everything; a foreign Host or origin is refused before the token is looked
    # at; big bodies are refused before anything reads them, uploads only once signed in.
    web_app = web.Application(middlewares=[errors_as_json, host_and_origin(allowed_hosts), require_token,
                                           body_limit(state.max_upload)],
                              client_max_size=SMALL_BODY)
    web_app["auth"] = state.auth
    web_app["state"] = state
    web_app.add_routes(routes(state))
    web_app.router.add_static("/static", STATIC)
    web_app.on_response_prepare.append(security_headers)
    web_app.on_cleanup.append(lambda _: _close(state))
    return web_app


async def _close(state: App) -> None:
    with contextlib.suppress(Exception):
        state.jobs.close()
    with contextlib.suppress(Exception):
        state.live.stop()
