"""The HTTP API (``python -m bot serve``): aiohttp routes and middlewares over the service."""
