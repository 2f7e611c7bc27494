"""A plain TCP forwarder for tests: listen on HOST PORT, connect each client to TO_HOST TO_PORT.

The two-node swarm test runs it on both ends of its veth pair, so the second engine reaches the
test registry at its own 127.0.0.1:5000, the address the pinned references name. Prints "ready"
once it listens; stopped by its pid.
"""

from __future__ import annotations

import socket
import sys
import threading


def pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main(host: str, port: str, to_host: str, to_port: str) -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, int(port)))
    server.listen(64)
    print("ready", flush=True)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection((to_host, int(to_port)), timeout=10)
        except OSError:
            client.close()
            continue
        upstream.settimeout(None)
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()


if __name__ == "__main__":
    main(*sys.argv[1:5])
