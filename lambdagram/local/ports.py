"""Free loopback ports."""

from __future__ import annotations

import random
import socket


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(*, below: int | None = None, bus_offset: int | None = None) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    ``below`` caps the port; ``bus_offset`` also wants ``port + bus_offset`` free (a Redis
    Cluster node listens on its port and on port + 10000, so its port must be <= 55535).
    """
    if below is None and bus_offset is None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    top = below or 65535
    for _ in range(200):
        port = random.randint(20000, top)
        if _bindable(port) and (bus_offset is None or _bindable(port + bus_offset)):
            return port
    msg = f"no free loopback port below {top}"
    raise RuntimeError(msg)
