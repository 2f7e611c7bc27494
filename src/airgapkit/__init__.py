"""airgapkit: carry a containerised Node.js app into an air-gapped network and run it there.

``__version__`` is airgapkit's version, in this one place (semantic versioning; pyproject.toml
reads it from here, CHANGELOG.md says what each version changed). It is a plain string in the
source, not read from installed metadata, so a copy of the package without its metadata (a
frozen program) still knows it. The bundle format's versions are
``crossing.manifest.FORMAT_VERSION`` (the one written) and ``READABLE_FORMATS`` (those read).
"""

__version__ = "0.2.0"
