"""Shared code for the Pix2Pix colorization course: profiles, data, colour, models, training."""

from .config import get_profile, setup

__all__ = ["get_profile", "setup"]
__version__ = "0.1.0"
