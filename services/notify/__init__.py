"""Notify: turns lending and DRM events into email, web push and in-app messages."""
