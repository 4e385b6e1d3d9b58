"""What only the PostgreSQL store has to prove, on a real server: migrations serialized by the advisory lock,
psycopg cooperating with gevent (two slow queries in two greenlets overlap), the pool under more callers than
connections and after its connections are killed, the password kept out of every message, and the configuration."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import psycopg
import pytest

from llm_api.config import ConfigError, load_config, redact_url
from llm_api.store import SCHEMA_VERSION, Message, StoreError, new_id
from llm_api.store.postgres import MIGRATION_LOCK_KEY, PostgresStore
from tests.doubles.stack import LLM_API_DIR
from tests.support.procs import REPO_ROOT, VENV_BIN, dockerfile_cmd, free_port


@pytest.fixture()
def url(postgres_server, request) -> str:
    return postgres_server.create_database(f"pg_{request.node.name[:40].lower()}")


def exchange(store, sid: str, n: int) -> bool:
    return store.add_exchange(sid, Message(new_id(), "user", f"q{n}", "m"),
                              Message(new_id(), "assistant", f"a{n}", "m"), create=True)


def test_migration_waits_for_the_advisory_lock(url):
    """A replica that holds the migration lock makes every other one wait: migrations never run side by side."""
    holder = psycopg.connect(url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    done: list[int] = []
    migrating = threading.Thread(target=lambda: done.append(PostgresStore(url).migrate()))
    migrating.start()
    migrating.join(1.0)
    assert done == [] and migrating.is_alive()  # blocked on the lock, not racing
    with psycopg.connect(url) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'sessions'").fetchone()[0]
    assert tables == 0  # nothing was created before the lock was granted
    holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    holder.close()
    migrating.join(30)
    assert done == [SCHEMA_VERSION]


def test_a_failed_migration_leaves_nothing_behind(url, monkeypatch):
    """DDL is transactional in PostgreSQL: a migration that fails half-way leaves the previous version whole."""
    from llm_api.store import migrations

    broken = "CREATE TABLE extra (x INTEGER); SELECT 1/0"
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, broken))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="division by zero"):
        PostgresStore(url).migrate()
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename IN ('sessions', 'extra')").fetchone()
    assert found == (0,)


GEVENT_PROBE = """
from gevent import monkey
monkey.patch_all()
import time, gevent, json, sys
from llm_api.store.postgres import PostgresStore, wait_function
store = PostgresStore(sys.argv[1], pool_size=4)
store.migrate()
ticks = []
def ticker():
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.01)
def slow(n):
    with store._connect() as conn:
        conn.execute("SELECT pg_sleep(0.5)")
store.ping()  # the pool's first connection is open
t = gevent.spawn(ticker)
start = time.monotonic()
gevent.joinall([gevent.spawn(slow, n) for n in range(2)])
slow_s = time.monotonic() - start
t.kill()
print(json.dumps({"wait": wait_function(), "slow_s": slow_s, "ticks": len(ticks)}))
"""

GUARD_PROBE = """
import sys, psycopg
from gevent import monkey
monkey.patch_all()
from llm_api.store import StoreError
from llm_api.store.postgres import PostgresStore
try:
    PostgresStore(sys.argv[1])
except StoreError as exc:
    print("refused:", exc)
"""


def run_probe(code: str, url: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), url], cwd=LLM_API_DIR, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_two_slow_queries_in_two_greenlets_overlap(url):
    """Under gevent's patching (as in a gunicorn worker), psycopg waits cooperatively: two 0.5 s queries take about
    0.5 s together, not 1 s, and other greenlets keep running meanwhile."""
    import json

    figures = json.loads(run_probe(GEVENT_PROBE, url))
    assert figures["wait"] != "wait_c"
    assert figures["slow_s"] < 0.9, figures
    assert figures["ticks"] >= 20, figures  # the hub ran every 10 ms while both queries waited


def test_psycopg_imported_before_the_patching_is_refused(url):
    assert run_probe(GUARD_PROBE, url).startswith("refused: psycopg was imported before gevent's monkey patching")


def test_more_writers_than_pool_connections_all_land(url):
    store = PostgresStore(url, pool_size=2)
    store.migrate()
    threads = [threading.Thread(target=lambda n=n: [exchange(store, f"s{n % 3}", i) for i in range(8)])
               for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(store.history(f"s{k}")) for k in range(3)) == 12 * 8 * 2
    with psycopg.connect(url) as conn:
        used = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'llm-api' "
                            "AND datname = current_database()").fetchone()[0]
    assert used <= 2
    store.close()


def test_killed_connections_cost_no_request(url):
    """Every pooled connection terminated by the server (a restart, a failover): the next operations still work."""
    store = PostgresStore(url, pool_size=3)
    store.migrate()
    assert exchange(store, "s", 0)
    with psycopg.connect(url, autocommit=True) as conn:
        killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE application_name = 'llm-api' AND datname = current_database()").fetchone()[0]
    assert killed >= 1
    time.sleep(0.2)
    assert exchange(store, "s", 1) and len(store.history("s")) == 4
    store.ping()
    store.close()


def test_password_stays_out_of_messages_and_reprs(postgres_server):
    url = postgres_server.url("no_such_database")
    store = PostgresStore(url)
    with pytest.raises(StoreError) as info:
        store.migrate()
    assert postgres_server.password not in str(info.value) and "no_such_database" in str(info.value)
    assert postgres_server.password not in repr(store)
    config = load_config({"DATABASE_URL": url})
    assert postgres_server.password not in repr(config) and config.database_url == url
    assert redact_url(url) == f"postgresql://postgres@127.0.0.1:{postgres_server.port}/no_such_database"


def test_master_migrates_in_a_child_process_and_reports_one_line(postgres_server, url, tmp_path):
    """`gunicorn.conf.py`'s migration for PostgreSQL: `python -m llm_api.store`, never psycopg in the master."""
    from llm_api.store import migrate_store

    assert migrate_store(load_config({"DATABASE_URL": url})) == SCHEMA_VERSION
    with pytest.raises(StoreError) as info:
        migrate_store(load_config({"DATABASE_URL": postgres_server.url("missing_db")}))
    assert "missing_db" in str(info.value) and "\n" not in str(info.value)
    assert postgres_server.password not in str(info.value)
    probe = ("import sys; sys.argv = ['gunicorn']; exec(open('gunicorn.conf.py').read()); "
             "print(sorted(m for m in sys.modules if m.startswith('psycopg')))")
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT / "llm-api"),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", probe], cwd=LLM_API_DIR, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"



def test_gunicorn_exits_with_one_line_when_postgres_cannot_open(postgres_server, tmp_path):
    """The Dockerfile's CMD with a DATABASE_URL naming a database that does not exist: one line, no password."""
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "DATABASE_URL": postgres_server.url("absent")}
    result = subprocess.run(dockerfile_cmd(LLM_API_DIR / "Dockerfile"), cwd=LLM_API_DIR, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"llm-api: configuration error: cannot open database {redact_url(env['DATABASE_URL'])}")
    assert 'database "absent" does not exist' in lines[0] and postgres_server.password not in lines[0]


# -- configuration


def test_database_url_selects_postgres_and_sqlite_stays_the_default(tmp_path):
    assert load_config({}).database_url is None and load_config({}).database_pool_size == 10
    config = load_config({"DATABASE_URL": " postgresql://u:p@db:5432/h ", "DATABASE_POOL_SIZE": "4"})
    assert config.database_url == "postgresql://u:p@db:5432/h" and config.database_pool_size == 4
    secret = tmp_path / "url"
    secret.write_text("postgres://u:p@db/h\n")
    assert load_config({"DATABASE_URL_FILE": str(secret)}).database_url == "postgres://u:p@db/h"


@pytest.mark.parametrize(("env", "match"), [
    ({"DATABASE_URL": "mysql://u:p@db/h"}, "postgresql://"),
    ({"DATABASE_URL": "postgresql://u:p@db:99999/h"}, "invalid port"),
    ({"DATABASE_URL": "postgresql://db/h", "DATABASE_URL_FILE": "/x"}, "not both"),
    ({"DATABASE_URL_FILE": "/nonexistent/url"}, "cannot be read"),
    ({"DATABASE_POOL_SIZE": "0"}, "DATABASE_POOL_SIZE"),
])
def test_bad_database_settings_name_the_variable(env, match):
    with pytest.raises(ConfigError, match=match) as info:
        load_config(env)
    assert ":p@" not in str(info.value)


def test_ping_of_a_database_that_is_down_answers_within_the_probe_timeout():
    """/readyz's database check: a server that does not answer is `down` after 3 s, not after the pool's 15 s."""
    store = PostgresStore(f"postgresql://llm:pw@127.0.0.1:{free_port()}/history")
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"127\.0\.0\.1"):
        store.ping()
    assert time.monotonic() - started < 5
    store.close()
