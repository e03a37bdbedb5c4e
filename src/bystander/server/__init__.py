"""The web app: pages and a JSON API over the same engine, registry and media code as the CLI."""
