"""The API's OpenAPI description, served at /openapi.json."""

from __future__ import annotations


def _op(summary: str, responses: dict, body: dict | None = None, auth: bool = True) -> dict:
    op = {"summary": summary, "responses": {str(k): {"description": v} for k, v in responses.items()}}
    if body:
        op["requestBody"] = {"required": True, "content": body}
    if not auth:
        op["security"] = []
    return op


_JSON_LOGIN = {"application/json": {"schema": {"type": "object", "required": ["username", "password"], "properties": {
    "username": {"type": "string"}, "password": {"type": "string", "minLength": 8}}}}}
_JSON_SETUP = {"application/json": {"schema": {"type": "object", "required": ["username", "password", "setup_code"],
    "properties": {"username": {"type": "string", "maxLength": 64}, "password": {"type": "string", "minLength": 8},
                   "setup_code": {"type": "string", "description": "printed by `bystander serve` on its console"}}}}}
_FILE = {"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary"}}}}}
_PERSON = {"multipart/form-data": {"schema": {"type": "object", "required": ["name", "shot"], "properties": {
    "name": {"type": "string", "maxLength": 64},
    "shot": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}
_ERR = "error: {\"error\": message}"

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "bystander", "version": "1",
             "description": "Every face redacted except registered people. Errors are JSON: {\"error\": message}. "
                            "Sign-in returns a bearer token and sets an HttpOnly session cookie, which GET "
                            "requests (images, videos) may use instead; requests that change something need "
                            "the bearer token and, from a browser, this server's own origin."},
    "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    "security": [{"token": []}],
    "paths": {
        "/healthz": {"get": _op("liveness", {200: "ok"}, auth=False)},
        "/api/setup": {
            "get": _op("whether the admin login still has to be created", {200: "{needed: bool}"}, auth=False),
            "post": _op("create the admin login (first run only, with the setup code serve printed)",
                        {201: "{token}", 400: _ERR, 403: _ERR, 409: _ERR, 429: _ERR + ", Retry-After"},
                        _JSON_SETUP, auth=False)},
        "/api/login": {"post": _op("sign in; a few failures in a row and the client must wait",
                                   {200: "{token}", 401: _ERR, 429: _ERR + ", Retry-After"}, _JSON_LOGIN, auth=False)},
        "/api/logout": {"post": _op("sign out: the session ends on the server", {204: "signed out"}, auth=False)},
        "/api/people": {
            "get": _op("registered people", {200: "[{name, shots, created}]", 401: _ERR}),
            "post": _op("register a person, or add shots to one; every shot must show one clear face",
                        {201: "the person", 400: _ERR, 413: _ERR, 415: _ERR, 422: _ERR}, _PERSON)},
        "/api/people/check": {"post": _op(
            "check one registration shot as it is taken: one clear face, big and sharp enough, facing as asked",
            {200: "{ok, problem, note, faces, size, sharpness, yaw}", 400: _ERR, 413: _ERR, 415: _ERR},
            {"multipart/form-data": {"schema": {"type": "object", "required": ["shot"], "properties": {
                "shot": {"type": "string", "format": "binary"},
                "pose": {"type": "string", "enum": ["any", "front", "left", "right"]}}}}})},
        "/api/network": {"get": _op("the LAN addresses a phone opens this server at, each with a QR code (SVG data URI)",
                                    {200: "{https, listening_on_lan, urls: [{url, qr}]}"}, auth=False)},
        "/api/people/{name}": {"delete": _op("forget a person (embeddings deleted)", {204: "deleted", 404: _ERR})},
        "/api/photos": {"post": _op("redact a photo; the result goes to the gallery",
                                    {201: "gallery item", 400: _ERR, 413: _ERR, 415: _ERR}, _FILE)},
        "/api/videos": {"post": _op("redact a video in the background",
                                    {202: "job", 400: _ERR, 413: _ERR + " (also: frames over --max-video-pixels)",
                                     415: _ERR}, _FILE)},
        "/api/jobs": {"get": _op("video jobs, newest first", {200: "[job]"})},
        "/api/jobs/{id}": {"get": _op("one job: state, progress, result item", {200: "job", 404: _ERR})},
        "/api/gallery": {"get": _op("redacted results, newest first", {200: "[item]"})},
        "/api/gallery/{id}/file": {"get": _op("the redacted file (?download=1 to save it)", {200: "file", 404: _ERR})},
        "/api/live": {"get": _op("ingest URL, masked stream key, destinations (masked), relay state and status",
                                 {200: "live state"})},
        "/api/live/key": {"post": _op("generate a new ingest stream key", {201: "{stream_key}"})},
        "/api/live/whip-token": {"post": _op("generate a new WHIP token (the bearer token WHIP encoders publish with)",
                                             {201: "{token}"})},
        "/api/live/secrets": {"get": _op("the ingest stream key and WHIP token in full (bearer token only, not the cookie)",
                                         {200: "{stream_key, whip_token}", 401: _ERR})},
        "/api/live/settings": {"put": _op("whether going live also records into the gallery (alone: record only)",
                                          {200: "{record}", 400: _ERR},
                                          {"application/json": {"schema": {"type": "object", "required": ["record"],
                                                                           "properties": {"record": {"type": "boolean"}}}}})},
        "/api/live/destinations": {"post": _op(
            "save a destination; its key is stored server-side and only ever returned masked",
            {201: "{id, name, url (masked)}", 400: _ERR},
            {"application/json": {"schema": {"type": "object", "required": ["name", "url"], "properties": {
                "name": {"type": "string"}, "url": {"type": "string"}, "key": {"type": "string"}}}}})},
        "/api/live/destinations/{id}": {"delete": _op("forget a destination", {204: "deleted", 404: _ERR})},
        "/api/live/start": {"post": _op("start relaying the RTMP ingest to every destination",
                                        {202: "started", 400: _ERR, 409: _ERR})},
        "/api/live/whip": {
            "post": _op("WHIP: go live from a browser or WHIP encoder (signed in, or with the WHIP token); "
                        "body is the SDP offer",
                        {201: "the SDP answer (application/sdp)", 400: _ERR, 409: _ERR, 415: _ERR},
                        {"application/sdp": {"schema": {"type": "string"}}}),
            "delete": _op("end the WHIP session and the relay", {204: "ended"})},
        "/api/live/preview.jpg": {"get": _op("the latest redacted frame sent out (JPEG)", {200: "image", 404: _ERR})},
        "/api/live/stop": {"post": _op("stop the relay; outputs are flushed and closed", {200: "stopped"})},
        "/api/gallery/{id}": {"delete": _op("delete a result", {204: "deleted", 404: _ERR})},
    },
}
