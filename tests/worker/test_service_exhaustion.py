"""Resource exhaustion against the model-worker as its image runs it (gthread with request buffering in its
poller): a new client's /healthz answers within a second during and after idle sockets, 100 clients trickling
headers, 100 trickling bodies, a 64 KiB header and a flood of tiny requests.

Before the buffering (gthread read heads and bodies in its threads), 100 trickling clients held every thread until
BODY_TIMEOUT_S ended each, and /healthz took 60 s (slow bodies) or more than 60 s (slow headers)."""

import pytest

from tests.support.exhaustion import HEALTHZ_BUDGET_S, check_held_sockets, check_service_survives
from tests.worker.stack import modelless_worker_service


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    with modelless_worker_service(tmp_path_factory.mktemp("no-models"), "exhaustion") as service:
        yield service


def test_healthz_answers_within_a_second_under_idle_sockets_big_headers_and_floods(worker):
    """600 idle connections held all 16 threads (gthread gives each new connection a thread for up to 5 s) and
    /healthz timed out; new connections now wait in the poller (buffered_gthread.BufferingThreadWorker.accept)."""
    print(f"/healthz (s): {check_service_survives(worker.url, worker.port, held=('idle',))}")


@pytest.mark.parametrize("attack", ["slow_headers", "slow_bodies"])
def test_healthz_answers_within_a_second_under_trickling_clients(worker, attack):
    timings = check_held_sockets(worker.url, worker.port, (attack,))
    print(f"/healthz under {attack}: {timings}")
    assert max(timings.values()) < HEALTHZ_BUDGET_S, timings
