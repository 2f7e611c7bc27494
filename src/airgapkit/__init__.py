"""airgapkit: carry a containerised Node.js app into an air-gapped network and run it there."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("airgapkit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
