"""Size limits of the web app's requests."""

SMALL_BODY = 64 * 1024  # JSON, SDP offers: any body but an upload
