"""Resource exhaustion against the llm-api as its image runs it: a new client's /healthz answers within a second
during and after idle sockets, slow headers and bodies, a 64 KiB header and a flood of tiny requests."""

from tests.support.exhaustion import check_service_survives


def test_healthz_answers_within_a_second_under_every_attack(api):
    print(f"/healthz (s): {check_service_survives(api.url, api.port)}")
