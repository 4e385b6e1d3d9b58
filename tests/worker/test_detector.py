"""The form-field detector on the tiny Qwen3-VL checkpoint: real processor, LoRA via PEFT, 4-bit via bitsandbytes."""

import base64

import pytest
import torch

from model_worker.config import WorkerConfig
from model_worker.detector import DetectorModel, DetectRequest
from model_worker.media import decode_image
from model_worker.runtime import Placement
from tests.worker.conftest import make_config
from tests.worker.media_samples import form_image, image_bytes
from tests.worker.tiny_models import TINY_ADAPTER_ANSWER

TRAINED_BOXES = [field["bbox"] for field in TINY_ADAPTER_ANSWER["applicant_fields"]]

CPU = Placement(device="cpu", dtype=torch.float32)


def _check_detection_shape(body, width, height):
    assert set(body) >= {"bboxes", "count", "raw_output", "image_size", "model", "timings"}
    assert body["image_size"] == {"width": width, "height": height}
    assert body["count"] == len(body["bboxes"])
    assert isinstance(body["raw_output"], str)
    for box in body["bboxes"]:
        x1, y1, x2, y2 = box["bbox_pixel"]
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        nx1, ny1, nx2, ny2 = box["bbox_normalized"]
        assert 0 <= nx1 < nx2 <= 1000 and 0 <= ny1 < ny2 <= 1000


def test_detect_multipart_on_a_drawn_form(client):
    data = image_bytes(form_image(1400, 900), "PNG")
    response = client.post("/detect", data={"image": (__import__("io").BytesIO(data), "form.png", "image/png")},
                           content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    body = response.json
    _check_detection_shape(body, 1400, 900)
    assert body["timings"]["inference_ms"] > 0
    # The tiny adapter was trained to answer two boxes; the worker parses them and maps them to upload pixels.
    assert body["count"] >= 1, body["raw_output"]
    for box in body["bboxes"]:
        assert box["bbox_normalized"] in TRAINED_BOXES
    assert {"bbox_normalized": [186, 155, 643, 244], "bbox_pixel": [260, 139, 901, 220]} in body["bboxes"]


def test_detect_json_base64_with_prompt_override(client):
    data = image_bytes(form_image(500, 700), "JPEG")
    response = client.post("/detect", json={"image_base64": base64.b64encode(data).decode(), "prompt": "枠を探して"})
    assert response.status_code == 200, response.json
    _check_detection_shape(response.json, 500, 700)


def test_boxes_are_pixels_of_the_upload_not_of_the_resized_copy(loaded_app):
    """A 2800x1800 upload is resized to 1024 px for the model; boxes must still be in upload pixels."""
    model = loaded_app.extensions["model_slots"]["detector"]._model
    upload = decode_image(image_bytes(form_image(2800, 1800), "PNG"), 40_000_000)
    prepared = model.preprocess(DetectRequest(image=upload))
    assert max(prepared["inputs"]["image_grid_thw"][0][1:].tolist()) * 16 <= 1024 + 32  # the model saw a copy
    answer = '```json\n{"applicant_fields": [{"bbox": [500, 100, 250, 50]}, {"bbox": [100, 500, 400, 560]}]}\n```'
    ids = model.processor.tokenizer([answer], return_tensors="pt")["input_ids"]
    body = model.postprocess(prepared, {"ids": ids, "inference_ms": 1.0})
    assert body["raw_output"] == answer
    assert body["image_size"] == {"width": 2800, "height": 1800}
    assert [b["bbox_normalized"] for b in body["bboxes"]] == [[250, 50, 500, 100], [100, 500, 400, 560]]
    assert [b["bbox_pixel"] for b in body["bboxes"]] == [[700, 90, 1400, 180], [280, 900, 1120, 1008]]
    assert body["count"] == 2


def test_no_box_in_the_answer_is_count_zero(loaded_app):
    model = loaded_app.extensions["model_slots"]["detector"]._model
    prepared = model.preprocess(DetectRequest(image=decode_image(image_bytes(form_image(300, 200)), 10**7)))
    ids = model.processor.tokenizer(["申請者欄は見つかりませんでした。"], return_tensors="pt")["input_ids"]
    body = model.postprocess(prepared, {"ids": ids, "inference_ms": 1.0})
    assert body["count"] == 0 and body["bboxes"] == []


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"data": {"image": (__import__("io").BytesIO(image_bytes(form_image(300, 200))[:300]), "t.png")}},
         422, "unprocessable_media"),
        ({"data": {"image": (__import__("io").BytesIO(b"%PDF-1.4 ..."), "f.pdf")}}, 422, "unprocessable_media"),
        ({"data": {"image": (__import__("io").BytesIO(b"GIF89a" + bytes(20)), "f.gif")}}, 415,
         "unsupported_media_type"),
        ({"data": {"image": (__import__("io").BytesIO(b""), "e.png")}}, 400, "bad_request"),
        ({"data": {"other": "x"}, "content_type": "multipart/form-data"}, 400, "bad_request"),
        ({"json": {"image_base64": 5}}, 400, "bad_request"),
        ({"data": "raw", "content_type": "text/plain"}, 415, "unsupported_media_type"),
    ],
)
def test_detect_errors(client, kwargs, status, code):
    response = client.post("/detect", **kwargs)
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code


def _logits(model: DetectorModel) -> torch.Tensor:
    prepared = model.preprocess(DetectRequest(image=decode_image(image_bytes(form_image(320, 240)), 10**7)))
    with torch.no_grad():
        return model.model(**prepared["inputs"]).logits.float()


@pytest.fixture(scope="module")
def base_detector(tiny_env):
    return DetectorModel.load(make_config(tiny_env, VL_LORA_ADAPTER=""), CPU)


def test_lora_adapter_changes_the_model(loaded_app, base_detector):
    with_lora = loaded_app.extensions["model_slots"]["detector"]._model
    assert with_lora.lora and not base_detector.lora
    difference = (_logits(with_lora) - _logits(base_detector)).abs().max().item()
    assert difference > 1e-3
    upload = decode_image(image_bytes(form_image(1400, 900)), 10**7)
    deadline = __import__("time").monotonic() + 120
    base_answer = base_detector.detect(DetectRequest(image=upload), deadline)
    lora_answer = with_lora.detect(DetectRequest(image=upload), deadline)
    assert base_answer["count"] == 0 and lora_answer["count"] >= 1
    assert base_answer["raw_output"] != lora_answer["raw_output"]


def test_four_bit_nf4_path(tiny_env, base_detector):
    pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed")
    from bitsandbytes.nn import Linear4bit

    config: WorkerConfig = make_config(tiny_env)
    quantized = DetectorModel.load(config, CPU, quantize=True)
    assert quantized.quantized and quantized.lora
    assert "nf4" in quantized.footprint.bytes_by_dtype
    layer = quantized.model.base_model.model.model.language_model.layers[0].self_attn.q_proj
    assert isinstance(layer.base_layer, Linear4bit)
    upload = decode_image(image_bytes(form_image(640, 480)), 10**7)
    body = quantized.detect(DetectRequest(image=upload), deadline=__import__("time").monotonic() + 120)
    _check_detection_shape(body, 640, 480)
    # Quantised weights give logits close to, but not the same as, the full-precision merged model's.
    assert torch.isfinite(_logits(quantized)).all()


def test_the_default_answer_length_fits_a_busy_page():
    """The adapter was evaluated with 2048 new tokens and finds ~40 fields a page at ~23 tokens each; 1024 cut
    answers at about 44 boxes."""
    assert WorkerConfig.from_env({}).detector_max_new_tokens == 2048


def test_an_answer_cut_by_the_token_limit_is_logged(tiny_env, caplog):
    model = DetectorModel.load(make_config(tiny_env, DETECTOR_MAX_NEW_TOKENS="12"), CPU)
    upload = decode_image(image_bytes(form_image(640, 480)), 10**7)
    with caplog.at_level("WARNING", logger="model_worker.detector"):
        model.detect(DetectRequest(image=upload), deadline=__import__("time").monotonic() + 120)
    assert any("DETECTOR_MAX_NEW_TOKENS=12" in record.getMessage() for record in caplog.records)


def test_an_adapter_whose_weights_match_no_module_fails_the_load(tiny_env, tiny_checkpoints, tmp_path):
    """PEFT only warns when the adapter's keys match nothing (trained for another base, renamed modules): the
    detector would silently run as the base model."""
    import shutil

    from safetensors.torch import load_file, save_file

    adapter = tmp_path / "renamed-lora"
    shutil.copytree(tiny_checkpoints["lora"], adapter)
    weights = load_file(adapter / "adapter_model.safetensors")
    save_file({k.replace(".layers.", ".blocks."): v for k, v in weights.items()}, adapter / "adapter_model.safetensors")
    with pytest.raises(ValueError, match="its weights did not load"):
        DetectorModel.load(make_config(tiny_env, VL_LORA_ADAPTER=str(adapter)), CPU)
