"""Size limits of the web app (kept free of heavy imports: the CLI's parser reads them)."""

SMALL_BODY = 64 * 1024  # JSON, SDP offers: any body but an upload
DEFAULT_MAX_VIDEO_PIXELS = 7680 * 4320  # 8K UHD: one decoded frame and its copies stay near a few hundred MB
