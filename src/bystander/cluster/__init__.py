"""Running past one machine on a Ray cluster: long videos cut into segments, folders of photos and
the web app's video jobs fanned out over its workers. Ray is imported only here, and only when
``--ray`` is given."""
