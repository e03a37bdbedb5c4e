"""Connecting to Ray: a private local one, or an existing cluster, for the length of a command."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from typing import Iterator

from ..errors import BystanderError
from .tasks import first_line

LOCAL = "local"
CONNECT_TIMEOUT = 5.0  # seconds to wait for a cluster's address to answer at all


@dataclass(frozen=True)
class Cluster:
    address: str
    cpus: int  # the CPUs Ray offers to tasks: one segment or batch of photos runs on each

    def describe(self) -> str:
        where = "a local Ray" if self.address == LOCAL else self.address
        return f"{self.cpus} worker CPU(s) on {where}"


@contextlib.contextmanager
def ray_cluster(address: str, cpus: int | None = None) -> Iterator[Cluster]:
    """``address`` is ``local`` (a private Ray on this machine, with ``cpus`` or all its cores),
    ``ray://HOST:10001`` (Ray Client) or ``HOST:6379`` (a node of the cluster). Ray is shut down
    (a local one stopped) when the block ends."""
    try:
        import ray
    except ImportError:
        raise BystanderError("--ray needs Ray: install bystander with the cluster extra "
                             "(pip install 'bystander[cluster]')") from None
    if address not in (LOCAL, "auto"):
        _answers(address)
    options: dict = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address == LOCAL:
        options.update(num_cpus=cpus or os.cpu_count() or 1, include_dashboard=False)
        # A cluster Ray starts reports usage statistics to Ray's makers unless told not to.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        # Ray announces that it secured the private cluster it starts with a token: nothing to act on.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    try:
        ray.init(address=address, **options)
    except Exception as exc:  # Ray raises ConnectionError, ValueError or RuntimeError by case
        raise BystanderError(f"--ray {address}: cannot start or reach Ray ({first_line(exc)})") from None
    try:
        yield Cluster(address, int(ray.cluster_resources().get("CPU", 0)))
    finally:
        ray.shutdown()


def _answers(address: str) -> None:
    """Ray waits minutes, logging as it goes, for an address where nothing listens: a plain
    connection tells at once."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise BystanderError(f"--ray {address}: expected local, ray://HOST:PORT or HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise BystanderError(f"--ray {address}: nothing answers there ({exc.strerror or exc})") from None
