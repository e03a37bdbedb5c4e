"""Photo and video files in and out."""
