"""Photos in and out.

Decoding goes through Pillow so that EXIF orientation, palettes, alpha and
greyscale are handled the same way for every format; the engine always sees a
3-channel BGR array. Output carries no EXIF (so no GPS, camera or time data)
unless asked to keep it, keeps the input's size and, where the format has them,
its alpha channel and greyscale mode.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from ..engine import Sticker
from ..errors import BystanderError, InputError
from .atomic import atomic_output
from .input_file import require_file
from .limits import DEFAULT_MAX_PIXELS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
# A sticker is scaled down to this longest side when read: faces are rarely larger, and every face
# of every frame scales it again.
STICKER_SIZE = 512
STICKER_MAX_PIXELS = 50_000_000


@dataclass
class Photo:
    bgr: np.ndarray  # HxWx3 uint8, orientation applied
    alpha: np.ndarray | None  # HxW uint8, if the input had transparency
    grey: bool  # the input was greyscale
    format: str  # Pillow's name for the input format: JPEG, PNG, ...
    icc_profile: bytes | None
    grey16: np.ndarray | None = None  # HxW uint16, the input's own pixels if it was 16-bit greyscale
    frames: int = 1  # frames or pages in the file; only the first is read
    exif: bytes | None = None  # what --keep-metadata keeps (``_kept_exif``)


def read_photo(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS,
               raise_limit: str = "raise it with --max-pixels") -> Photo:
    path = require_file(path, "image")
    too_large = f"{path}: image too large (limit {max_pixels / 1e6:g} MP; {raise_limit})"
    try:
        with warnings.catch_warnings():
            # Pillow's own guard, at our limit, stops a bomb while the header is read.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = max_pixels
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise InputError(f"{path}: image too large ({w}x{h} = {w * h / 1e6:.0f} MP, "
                                     f"limit {max_pixels / 1e6:g} MP; {raise_limit})")
                fmt = im.format or "PNG"
                icc = im.info.get("icc_profile")
                frames = getattr(im, "n_frames", 1)
                im.load()
                exif = _kept_exif(im)
                im = ImageOps.exif_transpose(im)
                photo = _to_photo(im, fmt, icc)
                photo.frames, photo.exif = frames, exif
                return photo
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(too_large) from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image, or an image format bystander cannot read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: corrupt or truncated image ({exc})") from None
    except MemoryError:
        raise InputError(f"{path}: image too large to decode in memory") from None


# What --keep-metadata keeps of the first IFD: who, what and when. A TIFF's first IFD holds much
# more (XMP, which can name the people in it; IPTC; Photoshop resources, which can hold a thumbnail).
_KEPT_TAGS = (ExifTags.Base.ImageDescription, ExifTags.Base.Make, ExifTags.Base.Model, ExifTags.Base.Software,
              ExifTags.Base.DateTime, ExifTags.Base.Artist, ExifTags.Base.Copyright)


def _kept_exif(im: Image.Image) -> bytes | None:
    """The input's EXIF for --keep-metadata, written anew from what it allows: ``_KEPT_TAGS``, the
    Exif IFD without its maker note and the GPS IFD. Never the orientation (applied to the pixels),
    the embedded thumbnail or the maker note, since either can hold an unredacted copy of the photo."""
    try:
        original = im.getexif()
        if not original:
            return None
        exif = Image.Exif()
        for tag in _KEPT_TAGS:
            if tag in original:
                exif[tag] = original[tag]
        details = {k: v for k, v in original.get_ifd(ExifTags.IFD.Exif).items()
                   if k not in (ExifTags.Base.MakerNote, ExifTags.IFD.Interop)}
        if details:
            exif[ExifTags.IFD.Exif] = details
        if gps := original.get_ifd(ExifTags.IFD.GPSInfo):
            exif[ExifTags.IFD.GPSInfo] = dict(gps)
        return exif.tobytes() if exif else None
    except Exception:  # a damaged EXIF block is dropped like any other
        return None


def _to_photo(im: Image.Image, fmt: str, icc: bytes | None) -> Photo:
    alpha = None
    grey = im.mode in ("1", "L", "LA", "F") or im.mode.startswith("I")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        alpha = np.asarray(im.getchannel("A")).copy()
    grey16 = None
    if im.mode.startswith("I"):
        # 16-bit greyscale (PNG, TIFF): Pillow's convert("L") clips at 255, which turns it white.
        # The engine sees the top 8 bits; the 16-bit pixels are kept for the output.
        grey16 = np.asarray(im).clip(0, 65535).astype(np.uint16)
        im = Image.fromarray((grey16 >> 8).astype(np.uint8))
    elif im.mode == "F":
        im = ImageOps.autocontrast(im.convert("L"))
    rgb = np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return Photo(bgr, alpha, grey, fmt, icc, grey16)


def _redacted_16bit(original: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The ``original`` 16-bit pixels, with every area the 8-bit redaction changed (``before`` to
    ``after``) taken whole from ``after``: the bounding box of each changed region, so no original
    detail survives inside it."""
    out = original.copy()
    n, _, boxes, _ = cv2.connectedComponentsWithStats((after != before).astype(np.uint8), connectivity=8)
    for x, y, w, h, _ in boxes[1:n]:
        out[y:y + h, x:x + w] = after[y:y + h, x:x + w].astype(np.uint16) * 257
    return out


def output_format(path: Path, fallback: str) -> str:
    ext = Path(path).suffix.lower()
    # The common formats' plugins first: loading every plugin is most of a small photo's write.
    Image.preinit()
    fmt = Image.EXTENSION.get(ext) or Image.registered_extensions().get(ext)
    if fmt is None:
        raise BystanderError(f"{path}: unknown image extension '{ext}' for the output")
    return fmt or fallback


# Output formats that carry EXIF.
EXIF_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")


def write_photo(path: Path, photo: Photo, bgr: np.ndarray, quality: int = 95, keep_metadata: bool = False) -> None:
    """Write ``bgr`` (with the input's alpha and mode) to ``path`` atomically; without metadata
    unless ``keep_metadata`` (then with the input's EXIF, as ``_kept_exif`` leaves it)."""
    fmt = output_format(path, photo.format)
    if photo.grey16 is not None and fmt in ("PNG", "TIFF") and photo.alpha is None:
        grey = partial(cv2.cvtColor, code=cv2.COLOR_BGR2GRAY)
        im = Image.fromarray(_redacted_16bit(photo.grey16, grey(photo.bgr), grey(bgr)))
    elif photo.grey:
        im = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    else:
        im = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if photo.alpha is not None and fmt in ("PNG", "WEBP", "TIFF", "GIF"):
        im = im.convert("LA" if photo.grey else "RGBA")
        im.putalpha(Image.fromarray(photo.alpha))
    params: dict = {}
    if fmt in ("JPEG", "WEBP"):
        params["quality"] = quality
    if photo.icc_profile and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        params["icc_profile"] = photo.icc_profile
    if keep_metadata and photo.exif and fmt in EXIF_FORMATS:
        params["exif"] = photo.exif
    with atomic_output(Path(path)) as tmp:
        try:
            im.save(tmp, format=fmt, **params)
        except OSError as exc:
            raise BystanderError(f"{path}: cannot write the output ({exc})") from exc


def is_animated_gif(path: Path) -> bool:
    """Whether ``path`` is a GIF of several frames: a video, not a photo."""
    if path.suffix.lower() != ".gif":
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return bool(getattr(im, "is_animated", False))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False


def is_still_image(path: Path) -> bool:
    """A photo: an image file other than an animated GIF (``video`` takes those whole)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not is_animated_gif(path)


def read_sticker(path: Path) -> Sticker:
    """The picture for ``--style image:FILE``, its transparency kept."""
    photo = read_photo(path, STICKER_MAX_PIXELS, "use a smaller picture: it is scaled to "
                                                 f"{STICKER_SIZE} px anyway")
    bgra = cv2.cvtColor(photo.bgr, cv2.COLOR_BGR2BGRA)
    if photo.alpha is not None:
        bgra[..., 3] = photo.alpha
    h, w = bgra.shape[:2]
    k = STICKER_SIZE / max(h, w)
    if k < 1:
        bgra = cv2.resize(bgra, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)
    return Sticker(bgra)
