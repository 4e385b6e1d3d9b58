"""The form-field detector: Qwen3-VL with the pdfme LoRA adapter (PEFT), optionally 4-bit NF4 (bitsandbytes).

preprocess: a decoded upload -> a model-sized copy (long side DETECTOR_MAX_SIDE, like the adapter's own server)
and the adapter's prompts; forward: greedy generation; postprocess: parse the answer into 0-1000 boxes and map them
to pixels of the image *as uploaded* (not of the resized copy).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch
from PIL import Image
from transformers import BitsAndBytesConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

from .bbox_parser import parse_boxes, to_pixels
from .config import WorkerConfig
from .generation import check_deadline, ms, remaining
from .inspection import NF4, measure, verify
from .media import DecodedImage
from .processors import load_processor
from .prompts import DETECTOR_SYSTEM_PROMPT, DETECTOR_USER_PROMPT
from .runtime import Placement, hub_kwargs
from .schemas import DetectionResponse

log = logging.getLogger(__name__)

# bitsandbytes cannot quantise the vision tower's small layers; the output head stays in full precision too.
FOUR_BIT_SKIP_MODULES = ["model.visual", "lm_head"]


def four_bit_config(compute_dtype: torch.dtype) -> BitsAndBytesConfig:
    """NF4 with double quantisation, computing in `compute_dtype`; the vision tower and the head stay unquantised."""
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_use_double_quant=True, llm_int8_skip_modules=FOUR_BIT_SKIP_MODULES,
    )


def check_adapter_attached(model, adapter: str) -> None:
    """PEFT only warns when an adapter's weights match none of the base model's modules (for example an adapter
    trained for another base, or saved with other module names): the LoRA layers then keep their initial zero
    `lora_B` and the detector silently runs as the base model. Refuse that."""
    from peft.tuners.lora import LoraLayer

    layers = [module for module in model.modules() if isinstance(module, LoraLayer)]
    loaded = [
        layer for layer in layers
        if any(bool(weight.weight.detach().abs().sum() > 0) for weight in layer.lora_B.values())
    ]
    if not loaded:
        where = "matched no module of the base model" if not layers else "left every LoRA layer at its initial zeros"
        raise ValueError(
            f"the LoRA adapter {adapter} {where}: its weights did not load. Check that VL_LORA_ADAPTER was trained "
            "for VL_BASE_MODEL, or set VL_LORA_ADAPTER= (empty) to run the base model"
        )
    log.info("detector: LoRA weights loaded into %d of %d adapter layers", len(loaded), len(layers))


def _expected_dtypes(placement: Placement, quantized: bool):
    """Every parameter in the compute dtype; NF4 for the quantised linear layers; LoRA weights may stay in float32
    (PEFT keeps adapters in float32 over lower-precision bases)."""
    compute = placement.dtype_name

    def expected(name: str, _param) -> tuple[str, ...]:
        if "lora_" in name:
            return (compute, "float32")
        return (compute, NF4) if quantized else (compute,)

    return expected


def _eos_ids(model) -> set[int]:
    eos = model.generation_config.eos_token_id
    return set(eos if isinstance(eos, list) else [eos] if eos is not None else [])


@dataclass(frozen=True)
class DetectRequest:
    image: DecodedImage
    prompt: str | None = None


class DetectorModel:
    """A loaded Qwen3-VL (+ LoRA) with its processor; not thread-safe (the ModelSlot serialises calls)."""

    def __init__(self, model, processor, placement: Placement, config: WorkerConfig, *, quantized: bool, lora: bool):
        self.model = model
        self.processor = processor
        self.placement = placement
        self.config = config
        self.quantized = quantized
        self.lora = lora
        self.footprint = measure(model)

    @property
    def name(self) -> str:
        adapter = self.config.vl_lora_adapter
        return f"{self.config.vl_base_model}+{adapter}" if adapter else self.config.vl_base_model

    @classmethod
    def load(cls, config: WorkerConfig, placement: Placement, quantize: bool | None = None) -> DetectorModel:
        """`quantize`: None follows USE_4BIT on CUDA only; True forces 4-bit NF4 (bitsandbytes also runs it on CPU)."""
        hub = hub_kwargs(config)
        processor = load_processor(Qwen3VLProcessor, config.vl_base_model, **hub)
        quantized = (config.use_4bit and placement.is_cuda) if quantize is None else quantize
        kwargs: dict = {"dtype": placement.dtype, "device_map": placement.device, **hub}
        if quantized:
            kwargs["quantization_config"] = four_bit_config(placement.dtype)
        elif config.use_4bit and quantize is None:
            log.info("detector: USE_4BIT=true but the device is %s; loading in %s (4-bit NF4 is for CUDA)",
                     placement.device, placement.dtype_name)
        model = Qwen3VLForConditionalGeneration.from_pretrained(config.vl_base_model, **kwargs)
        if config.vl_lora_adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, config.vl_lora_adapter, **hub)
            check_adapter_attached(model, config.vl_lora_adapter)
            if not quantized:
                # Folding the adapter into the weights makes inference as fast as the base model.
                model = model.merge_and_unload()
            log.info("detector: LoRA adapter %s applied (%s)", config.vl_lora_adapter,
                     "kept separate over 4-bit weights" if quantized else "merged")
        model.eval()
        verify(model, placement.device, _expected_dtypes(placement, quantized),
               what=f"detector model {config.vl_base_model}")
        log.info("detector: %s loaded on %s (%s)", config.vl_base_model, placement.device,
                 "4-bit NF4" if quantized else placement.dtype_name)
        return cls(model, processor, placement, config, quantized=quantized, lora=bool(config.vl_lora_adapter))

    def preprocess(self, request: DetectRequest) -> dict:
        started = time.perf_counter()
        image = request.image.image
        longest = max(image.size)
        if longest > self.config.detector_max_side:
            ratio = self.config.detector_max_side / longest
            size = (max(1, round(image.width * ratio)), max(1, round(image.height * ratio)))
            image = image.resize(size, Image.Resampling.LANCZOS)
        messages = [
            {"role": "system", "content": DETECTOR_SYSTEM_PROMPT},
            {"role": "user", "content": [
                {"type": "image"}, {"type": "text", "text": request.prompt or DETECTOR_USER_PROMPT},
            ]},
        ]
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = self.processor(text=[text], images=[image], return_tensors="pt", padding=True)
        inputs = inputs.to(self.model.device)
        if "pixel_values" in inputs:  # the vision tower runs in the compute dtype (never quantised)
            inputs["pixel_values"] = inputs["pixel_values"].to(self.placement.dtype)
        return {"request": request, "inputs": inputs, "preprocess_ms": ms(started)}

    def forward(self, prepared: dict, deadline: float) -> dict:
        started = time.perf_counter()
        inputs = prepared["inputs"]
        with torch.inference_mode():
            sequences = self.model.generate(
                **inputs, max_new_tokens=self.config.detector_max_new_tokens, do_sample=False,
                max_time=remaining(deadline),
            )
        check_deadline(deadline)
        ids = sequences[:, inputs["input_ids"].shape[1]:]
        cap = self.config.detector_max_new_tokens
        if ids.shape[1] >= cap and int(ids[0, -1]) not in _eos_ids(self.model):
            log.warning("detector: the answer reached DETECTOR_MAX_NEW_TOKENS=%d and was cut; boxes after it are "
                        "lost (raise the limit)", cap)
        return {"ids": ids, "inference_ms": ms(started)}

    def postprocess(self, prepared: dict, outputs: dict) -> DetectionResponse:
        upload: DecodedImage = prepared["request"].image
        raw = self.processor.tokenizer.batch_decode(outputs["ids"], skip_special_tokens=True)[0]
        boxes = parse_boxes(raw)
        return {
            "bboxes": [
                {"bbox_normalized": list(box), "bbox_pixel": to_pixels(box, upload.width, upload.height)}
                for box in boxes
            ],
            "count": len(boxes),
            "raw_output": raw,
            "image_size": {"width": upload.width, "height": upload.height},
            "model": self.name,
            "timings": {
                "decode_ms": round(upload.decode_ms, 1),
                "preprocess_ms": prepared["preprocess_ms"],
                "inference_ms": outputs["inference_ms"],
            },
        }

    def detect(self, request: DetectRequest, deadline: float) -> DetectionResponse:
        prepared = self.preprocess(request)
        return self.postprocess(prepared, self.forward(prepared, deadline))
