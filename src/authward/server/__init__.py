"""The HTTP face of authward (Starlette)."""

from authward.server.app import build_app

__all__ = ["build_app"]
