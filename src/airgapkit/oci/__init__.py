"""Images straight from their registry, no Docker Engine needed.

``open_image(ref, platform=..., access=...)`` resolves an image in its registry for the export flow:
its facts for the gate, its tar as chunks for a bundle member, its record for the manifest.
``export_image(ref, sink, ...)`` streams the same tar into any sink (``export_to_file``: a file,
atomically, for ``inv pull --source registry``); ``image_facts(ref, ...)`` gives
the gate what it judges from the registry's data alone. The tar holds the config and the compressed
layers as the registry holds them, each checked against its digest as it streams (``layout``).
``Access`` says how registries are reached (a private CA, a credentials file, registries allowed
plain HTTP). The registry protocol is python-dxf's (``registry``).
"""

from .export import SOURCE, Exported, RegistryImage, export_image, export_to_file, open_image
from .facts import image_facts
from .registry import Access

__all__ = [
    "SOURCE",
    "Access",
    "Exported",
    "RegistryImage",
    "export_image",
    "export_to_file",
    "image_facts",
    "open_image",
]
