"""A single-node swarm in the test engine, always left again, and the app images its tests deploy."""

from __future__ import annotations

import fcntl
import json
import tempfile
from contextlib import contextmanager
from pathlib import Path

# Two engines that share the host's network (the second engine here does) cannot both be swarm
# managers: the first holds port 2377 (and 7946), the second's `swarm init` fails with "address
# already in use". Every swarm the tests make is made under this lock, so the two workers of
# --both-engines, or two test runs on this machine, take turns.
SWARM_PORTS_LOCK = Path(tempfile.gettempdir()) / "agk-tests-swarm-ports.lock"

# /health answers the version, the greeting, and a hash of DB_PASSWORD: proof that the secret
# reached the app's environment without a test printing or comparing the value itself.
APP_JS = """
const crypto = require('crypto');
const status = Number(process.env.HEALTH_STATUS || '200');
require('http').createServer((q, r) => {
  r.statusCode = q.url === '/health' ? status : 404;
  r.end(JSON.stringify({version: process.env.APP_VERSION, greeting: process.env.GREETING,
    db: crypto.createHash('sha256').update(process.env.DB_PASSWORD || '').digest('hex')}));
}).listen(8080, () => console.log(process.env.APP_VERSION + ' listening'));
process.on('SIGTERM', () => process.exit(0));
"""


@contextmanager
def swarm_ports():
    """The machine's swarm ports, held until the block ends (waits for another holder)."""
    with SWARM_PORTS_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, however the block ends
        yield


@contextmanager
def single_node_swarm(client, advertise_addr: str = "127.0.0.1"):
    """``docker swarm init`` in the test engine; services removed and the swarm left at the end."""
    with swarm_ports():
        if client.info()["Swarm"]["LocalNodeState"] != "inactive":
            client.swarm.leave(force=True)  # left over by an interrupted run
        client.swarm.init(advertise_addr=advertise_addr)
        try:
            yield client
        finally:
            for service in client.services.list():
                service.remove()
            client.swarm.leave(force=True)


def app_context(folder: Path, base_image: str, version: str, health: int = 200) -> Path:
    """A build context for the test app: ``version`` answering ``health`` on /health, uid 1001."""
    (folder / "Dockerfile").write_text(
        f"FROM {base_image}\n"
        f"ENV APP_VERSION={version} HEALTH_STATUS={health}\n"
        "USER 1001\n"
        f"CMD {json.dumps(['node', '-e', APP_JS])}\n"
    )
    return folder
