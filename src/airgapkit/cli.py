"""``airgapkit``: the same tasks as ``inv``, for a machine that has the package but not the project.

On the air-gapped and prod sides a release engineer may only have airgapkit installed; this entry
point needs no ``tasks.py``. Settings come from ``INVOKE_AIRGAPKIT_*`` variables, a file given
with ``-f FILE.yaml``, and flags (a project's ``invoke.yaml`` is not read).
"""

from invoke import Program

from . import __version__
from .tasks import ns

program = Program(namespace=ns, version=__version__, name="airgapkit", binary="airgapkit")


def main() -> None:
    program.run()
