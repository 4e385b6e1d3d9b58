"""The tool's shared parts: settings (flag, then environment variable, then default), the worker environment per
variant, secret redaction of everything printed, and the Cloud Run price arithmetic."""

from __future__ import annotations

import io

import pytest

from deploy import pricing
from deploy.clouds import cloudrun, sagemaker
from deploy.console import Console
from deploy.errors import DeployError
from deploy.settings import resolve
from tests.deploy.cloud_support import assert_refused, run_cli


def test_a_flag_beats_its_variable_which_beats_the_default():
    env = {"SAGEMAKER_INSTANCE_TYPE": "ml.g5.2xlarge", "USE_4BIT": "false", "DEPLOY_WAIT_TIMEOUT_S": "60"}
    settings = resolve(sagemaker.Settings, {"instance_type": "ml.g6.xlarge"}, env)
    assert settings.instance_type == "ml.g6.xlarge" and settings.use_4bit is False and settings.wait_timeout_s == 60
    defaults = resolve(sagemaker.Settings, {}, {})
    assert (defaults.instance_type, defaults.name, defaults.models) == ("ml.g5.xlarge", "form-detector", "detector")
    assert resolve(cloudrun.Settings, {}, {}).models == "omni"


def test_the_worker_environment_of_each_variant():
    assert resolve(sagemaker.Settings, {}, {}).worker_environment() == {
        "ENABLED_MODELS": "detector", "VL_BASE_MODEL": "Qwen/Qwen3-VL-8B-Instruct",
        "VL_LORA_ADAPTER": "takumi123xxx/pdfme-form-field-detector-lora", "USE_4BIT": "true",
    }
    big = resolve(sagemaker.Settings, {"variant": "32b", "base_model": "/models/qwen3-vl-32b"}, {})
    assert big.worker_environment()["VL_BASE_MODEL"] == "/models/qwen3-vl-32b"
    assert big.worker_environment()["VL_LORA_ADAPTER"] == "none"  # the worker reads `none` as no adapter
    bare = resolve(sagemaker.Settings, {"lora_adapter": "none"}, {})
    assert bare.worker_environment()["VL_LORA_ADAPTER"] == "none"


def test_values_that_do_not_parse_are_refused(capsys):
    with pytest.raises(DeployError, match="USE_4BIT='maybe' is not a boolean"):
        resolve(sagemaker.Settings, {}, {"USE_4BIT": "maybe"})
    assert_refused(run_cli(capsys, "cloudrun", "status", "--cpu", "eight"), "--cpu='eight' is not an integer")


def test_the_console_hides_secrets_of_the_environment_and_those_it_is_given():
    out, err = io.StringIO(), io.StringIO()
    console = Console(out, err, environ={"AWS_SECRET_ACCESS_KEY": "s3cr3t-value-123", "USE_4BIT": "true",
                                         "AZURE_CLIENT_SECRET": "another-secret-456"})
    console.add_secret("minted-id-token-789")
    console.say("key s3cr3t-value-123 and minted-id-token-789, setting true")
    console.fail("secret another-secret-456 leaked by an SDK")
    assert out.getvalue() == "key *** and ***, setting true\n"
    assert err.getvalue() == "error: secret *** leaked by an SDK\n"


def test_cloud_run_costs_a_running_instance_per_second_of_gpu_cpu_and_memory():
    assert pricing.cloud_run_hourly(1, 4, 16) == pytest.approx((0.0001867 + 4 * 0.000018 + 16 * 0.000002) * 3600)
    assert round(pricing.cloud_run_hourly(1, 8, 32), 2) == 1.42
    assert pricing.describe(None, "ml.p5.48xlarge").startswith("no price on file for ml.p5.48xlarge")
