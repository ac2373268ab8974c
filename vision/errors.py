"""Errors of the vision package: one root, small named classes."""


class VisionError(Exception):
    """Root of every error raised by the vision package."""


class BadImageError(VisionError, ValueError):
    """An image that is empty, corrupt or not a BGR picture."""


class ImageSizeError(BadImageError):
    """A picture that does not fit its space map: another size than the map was drawn on, or a space outside it."""


class ModelError(VisionError, RuntimeError):
    """A shipped model is missing or cannot be loaded."""


class CameraError(VisionError, OSError):
    """A camera, stream or image source gives no frame; the message names the source."""
