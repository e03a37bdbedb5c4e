"""How large an input may be, in pixels (kept free of heavy imports: the CLI's parsers read them)."""

DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP a photo: above any phone camera, below what would exhaust memory
DEFAULT_MAX_VIDEO_PIXELS = 7680 * 4320  # 8K UHD a video frame: it and its copies stay near a few hundred MB
