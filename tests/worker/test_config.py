"""Configuration: the contract's names and defaults, validation with clear messages."""

import pytest

from model_worker.config import ConfigError, WorkerConfig


def test_defaults_follow_the_contract():
    config = WorkerConfig.from_env({})
    assert config.port == 8000
    assert config.omni_model == "Qwen/Qwen2.5-Omni-3B"
    assert config.vl_base_model == "Qwen/Qwen3-VL-8B-Instruct"
    assert config.vl_lora_adapter == "takumi123xxx/pdfme-form-field-detector-lora"
    assert config.use_4bit is True
    assert config.enabled_models == ("omni", "detector")
    assert config.device == "auto" and config.dtype == "auto"
    assert config.max_audio_bytes == 25 * 1024 * 1024 and config.max_audio_seconds == 120
    assert config.max_image_bytes == 20 * 1024 * 1024 and config.max_image_pixels == 40_000_000


def test_values_are_read():
    config = WorkerConfig.from_env({
        "PORT": "9000", "ENABLED_MODELS": "detector", "USE_4BIT": "false", "DEVICE": "cuda:1",
        "VL_LORA_ADAPTER": "", "QUEUE_SIZE": "0", "HF_HUB_OFFLINE": "1", "DTYPE": "float16",
    })
    assert config.port == 9000 and config.enabled_models == ("detector",) and config.use_4bit is False
    assert config.device == "cuda:1" and config.vl_lora_adapter == "" and config.queue_size == 0
    assert config.hf_hub_offline is True and config.dtype == "float16"


def test_vertex_port_overrides_port():
    assert WorkerConfig.from_env({"PORT": "9000", "AIP_HTTP_PORT": "8080"}).port == 8080


def test_empty_enabled_models_disables_both():
    assert WorkerConfig.from_env({"ENABLED_MODELS": ""}).enabled_models == ()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"USE_4BIT": "maybe"}, "USE_4BIT"),
        ({"ENABLED_MODELS": "omni,whisper"}, "whisper"),
        ({"DEVICE": "tpu"}, "DEVICE"),
        ({"DTYPE": "int8"}, "DTYPE"),
        ({"OMNI_MODEL": " "}, "OMNI_MODEL"),
        ({"QUEUE_SIZE": "-1"}, "QUEUE_SIZE"),
        ({"REQUEST_TIMEOUT_S": "soon"}, "REQUEST_TIMEOUT_S"),
    ],
)
def test_invalid_values_are_refused_with_the_variable_named(env, message):
    with pytest.raises(ConfigError, match=message):
        WorkerConfig.from_env(env)


def test_none_as_the_adapter_is_the_base_model_alone():
    """`none` survives platforms that drop empty environment variables (Vertex AI, Cloud Run: python -m deploy)."""
    assert WorkerConfig.from_env({"VL_LORA_ADAPTER": "none"}).vl_lora_adapter == ""
    assert WorkerConfig.from_env({"VL_LORA_ADAPTER": "None"}).vl_lora_adapter == ""
    assert WorkerConfig.from_env({"VL_LORA_ADAPTER": ""}).vl_lora_adapter == ""
