"""This project's tasks: the airgapkit collection, customised here.

Run ``inv --list`` to see them. Add a team's own tasks below and put them in ``ns``; change defaults
in ``invoke.yaml`` rather than here.
"""

from invoke import task

from airgapkit.tasks import ns


@task
def images(c):
    """List the local images of this app and its base (an example of a team's own task)."""
    cfg = c.config.airgapkit
    c.run(f"docker image ls --filter reference='{cfg.base_image}'", echo=True)


ns.add_task(images)
