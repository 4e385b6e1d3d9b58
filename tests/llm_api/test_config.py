"""Configuration: defaults, parsing, validation, and a one-line exit from gunicorn on a bad value."""

from __future__ import annotations

import subprocess

import pytest

from llm_api.config import MIB, ConfigError, load_config
from tests.doubles.stack import LLM_API_DIR
from tests.support.procs import VENV_BIN, dockerfile_cmd


def test_defaults_are_the_contracts():
    config = load_config({})
    assert config.port == 8080
    assert config.ollama_url == "http://ollama:11434"
    assert config.worker_url == "http://model-worker:8000"
    assert config.default_model == "7shi/ezo-gemma-2-jpn:2b-instruct-q8_0"
    assert config.cors_origins == ("http://localhost:3000", "http://127.0.0.1:3000")
    assert config.api_key is None
    assert config.database_path == "/data/llm-api.sqlite3"
    assert config.upstream_timeout_s == 600
    assert config.max_upload_mb == 25
    assert config.max_audio_bytes == 25 * MIB
    assert config.max_image_bytes == 20 * MIB


def test_values_are_parsed():
    config = load_config({
        "PORT": " 9000 ", "OLLAMA_URL": "http://localhost:11434/", "WORKER_URL": "https://w.example:8443",
        "LLM_DEFAULT_MODEL": "llama3.2", "CORS_ORIGINS": "http://a.test:3000, https://b.test ,",
        "API_KEY": "  secret ", "DATABASE_PATH": "/tmp/x.db", "UPSTREAM_TIMEOUT_S": "2.5", "MAX_UPLOAD_MB": "10",
    })
    assert config.port == 9000
    assert config.ollama_url == "http://localhost:11434"
    assert config.worker_url == "https://w.example:8443"
    assert config.default_model == "llama3.2"
    assert config.cors_origins == ("http://a.test:3000", "https://b.test")
    assert config.api_key == "secret"
    assert config.upstream_timeout_s == 2.5
    assert config.max_image_bytes == 10 * MIB


def test_blank_values_mean_default():
    config = load_config({"PORT": "", "API_KEY": "   ", "CORS_ORIGINS": ""})
    assert config.port == 8080 and config.api_key is None and len(config.cors_origins) == 2


@pytest.mark.parametrize(("name", "value"), [
    ("PORT", "abc"), ("PORT", "0"), ("PORT", "70000"),
    ("OLLAMA_URL", "ollama:11434"), ("OLLAMA_URL", "ftp://x"), ("OLLAMA_URL", "http://x:notaport"),
    ("WORKER_URL", "http://"), ("LLM_DEFAULT_MODEL", "bad model name"),
    ("CORS_ORIGINS", "localhost:3000"), ("CORS_ORIGINS", "http://a.test/path"),
    ("API_KEY", "two words"), ("UPSTREAM_TIMEOUT_S", "0"), ("UPSTREAM_TIMEOUT_S", "soon"),
    ("UPSTREAM_TIMEOUT_S", "-1"), ("MAX_UPLOAD_MB", "0"), ("MAX_UPLOAD_MB", "1.5"),
])
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError) as info:
        load_config({name: value})
    assert name in str(info.value)


def test_gunicorn_exits_with_one_readable_line_on_bad_config(tmp_path):
    cmd = dockerfile_cmd(LLM_API_DIR / "Dockerfile")
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "PORT": "eighty", "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
           "HOME": str(tmp_path)}
    result = subprocess.run(cmd, cwd=LLM_API_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines == ["llm-api: configuration error: PORT must be an integer, got 'eighty'"]


def test_gunicorn_exits_with_one_line_when_the_database_cannot_open(tmp_path):
    cmd = dockerfile_cmd(LLM_API_DIR / "Dockerfile")
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "DATABASE_PATH": str(tmp_path / "no" / "such" / "dir.db"),
           "HOME": str(tmp_path)}
    result = subprocess.run(cmd, cwd=LLM_API_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("llm-api: configuration error: cannot open database")


def test_dockerfile_cmd_is_gunicorn_with_the_config_file():
    assert dockerfile_cmd(LLM_API_DIR / "Dockerfile") == ["gunicorn", "-c", "gunicorn.conf.py", "llm_api.wsgi:app"]
