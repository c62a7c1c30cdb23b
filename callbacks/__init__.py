"""Monitoring callbacks (see issue 3)."""
