"""Live mode: RTMP in, the engine on every frame, H.264/AAC out to RTMP destinations."""
