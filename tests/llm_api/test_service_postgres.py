"""Two real llm-api processes (gunicorn, Dockerfile CMD, 2 gevent workers each) sharing one PostgreSQL database,
as two replicas do: 40 concurrent chats over 8 sessions split across both lose, duplicate and interleave nothing.
And one gevent worker waiting on PostgreSQL keeps serving its other requests."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests

from tests.doubles.stack import llm_api_service
from tests.llm_api.conftest import LOG_DIR
from tests.llm_api.recorded_chats import ANSWER

SESSIONS = 8
CHATS = 40


@pytest.fixture()
def two_replicas(tmp_path, ollama, closed_url, postgres_server):
    url = postgres_server.create_database("replicas")
    env = {"DATABASE_URL": url, "WEB_CONCURRENCY": "2"}
    # started at once, so both masters migrate the empty database at the same time (under the advisory lock)
    contexts = [llm_api_service(ollama.url, closed_url, tmp_path / "unused.sqlite3", env=env, log_dir=LOG_DIR)
                for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(context.__enter__) for context in contexts]
    with contextlib.ExitStack() as stack:
        for context, future in zip(contexts, futures, strict=True):
            if future.exception() is None:
                stack.push(context.__exit__)
        yield [f.result() for f in futures], url, postgres_server.password


def chat(url: str, prompt: str, sid: str | None, stream: bool) -> dict:
    body = {"prompt": prompt, "stream": stream, **({"session_id": sid} if sid else {})}
    response = requests.post(url + "/ask-llm", json=body, stream=stream, timeout=60)
    assert response.status_code == 200, response.text
    if not stream:
        return response.json()
    lines = [json.loads(line) for line in response.iter_lines() if line]
    assert lines[-1]["type"] == "done", lines[-1]
    return {"session_id": lines[0]["session_id"], "message_id": lines[0]["message_id"], "answer": lines[-1]["answer"]}


def stored(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        sessions = {sid: [] for (sid,) in conn.execute("SELECT id FROM sessions")}
        for sid, *row in conn.execute("SELECT session_id, seq, id, role, content FROM messages "
                                      "ORDER BY session_id, seq"):
            sessions[sid].append(tuple(row))
        counts = dict(conn.execute("SELECT id, message_count FROM sessions").fetchall())
    for sid, messages in sessions.items():
        assert counts[sid] == len(messages), f"session {sid}: message_count {counts[sid]} != {len(messages)} rows"
    return sessions


def test_two_processes_share_one_database_without_losing_anything(two_replicas, ollama):
    (a, b), url, password = two_replicas
    replicas = (a, b)
    seeded = [chat(replicas[n % 2].url, f"seed {n}", None, stream=False) for n in range(SESSIONS)]
    sids = [s["session_id"] for s in seeded]
    ollama.set(token_delay_s=0.005)
    jobs = [(replicas[i % 2].url, f"chat {i} of session {i % SESSIONS}", sids[i % SESSIONS], i % 3 != 0)
            for i in range(CHATS)]  # each session gets 5 chats, through both processes, streamed and not
    barrier = threading.Barrier(CHATS)

    def run(job):
        barrier.wait()
        return chat(*job)

    with ThreadPoolExecutor(CHATS) as pool:
        answers = list(pool.map(run, jobs))
    sessions = stored(url)
    assert set(sessions) == set(sids)
    all_ids = [m[1] for messages in sessions.values() for m in messages]
    assert len(all_ids) == len(set(all_ids)) == 2 * (SESSIONS + CHATS)  # nothing lost, nothing twice
    for index, sid in enumerate(sids):
        messages = sessions[sid]
        assert [m[0] for m in messages] == list(range(1, len(messages) + 1))  # seq without gaps
        assert len(messages) == 2 * (1 + CHATS // SESSIONS)
        for user, assistant in zip(messages[0::2], messages[1::2], strict=True):  # alternating, pairs whole
            assert (user[2], assistant[2]) == ("user", "assistant")
            match = ANSWER.match(assistant[3])
            assert match and match["prompt"] == user[3], (user, assistant)
        prompts = sorted(m[3] for m in messages[2::2])
        assert prompts == sorted(j[1] for j in jobs if j[2] == sid), f"session {index}"
    assert {a["message_id"] for a in answers} <= set(all_ids)
    for sid in sids:  # both processes serve the same history
        served = [requests.get(f"{r.url}/sessions/{sid}", timeout=10).json()["messages"] for r in replicas]
        assert served[0] == served[1] and [m["id"] for m in served[0]] == [m[1] for m in sessions[sid]]
    for replica in replicas:
        assert password not in replica.log()  # the URL's password is never logged
        assert requests.get(replica.url + "/readyz", timeout=10).json()["checks"]["database"]["status"] == "up"


def test_a_worker_waiting_on_postgres_keeps_serving(tmp_path, ollama, closed_url, postgres_server):
    """One gevent worker: while its exchange waits for a session row another client holds locked, the same
    process answers /healthz and /sessions at once (psycopg's waits yield to the other greenlets)."""
    url = postgres_server.create_database("one_worker")
    env = {"DATABASE_URL": url, "WEB_CONCURRENCY": "1"}
    with llm_api_service(ollama.url, closed_url, tmp_path / "unused.sqlite3", env=env, log_dir=LOG_DIR) as api:
        sid = chat(api.url, "first", None, stream=False)["session_id"]
        holder = psycopg.connect(url)
        holder.execute("SELECT 1 FROM sessions WHERE id = %s FOR UPDATE", (sid,))  # the row the write needs
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(chat, api.url, "second", sid, False)
            time.sleep(0.5)
            assert not pending.done()  # blocked on the row lock, inside the worker
            started = time.monotonic()
            assert requests.get(api.url + "/healthz", timeout=5).status_code == 200
            listed = requests.get(api.url + "/sessions", timeout=5).json()["sessions"]
            served_s = time.monotonic() - started
            assert [s["id"] for s in listed] == [sid] and served_s < 1.0, served_s
            holder.rollback()
            holder.close()
            assert re.match(r"You said: second", pending.result(timeout=30)["answer"])
        assert len(requests.get(f"{api.url}/sessions/{sid}", timeout=5).json()["messages"]) == 4
