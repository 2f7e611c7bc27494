"""Images straight from their registry, no Docker Engine needed.

``export_image(ref, sink, platform=..., access=...)`` streams an image's config and compressed layers
from its registry into one tar that ``docker load`` takes (``layout``), checking every blob against
its digest as it streams; ``image_facts(ref, ...)`` gives the gate what it judges from the registry's
data alone. ``Access`` says how registries are reached (a private CA, a credentials file, registries
allowed plain HTTP). The registry protocol is python-dxf's (``registry``).
"""

from .export import Exported, export_image
from .facts import image_facts
from .registry import Access

__all__ = ["Access", "Exported", "export_image", "image_facts"]
