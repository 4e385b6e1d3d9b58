"""Qwen2.5-Omni: spoken-audio feedback (text, optionally speech out) and text chat.

Like a transformers pipeline, each task is preprocess (prompt + processor) -> forward (generate) -> postprocess
(decode, shape the response). Audio arrives already decoded to 16 kHz mono (see media.py).

Speech output needs the talker and token2wav, loaded only when OMNI_SPEECH is true, and the official system
prompt, which the worker always uses (the instruction goes in the user turn). The transcript comes from a second,
greedy pass over the same audio asking for a verbatim transcript (OMNI_TRANSCRIPT=false skips it: null).
"""

from __future__ import annotations

import base64
import io
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
import torch
from transformers import (
    Qwen2_5OmniForConditionalGeneration,
    Qwen2_5OmniProcessor,
    Qwen2_5OmniThinkerForConditionalGeneration,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from .config import WorkerConfig
from .errors import BackendTimeout, BadRequest
from .generation import CancelOnEvent, SamplingOptions, check_deadline, ms, remaining, seed_everything
from .media import DecodedAudio
from .processors import load_processor
from .prompts import OMNI_FEEDBACK_INSTRUCTION, OMNI_SPEECH_SYSTEM_PROMPT, OMNI_TRANSCRIPT_INSTRUCTION
from .runtime import Placement, hub_kwargs

log = logging.getLogger(__name__)

OUTPUT_SAMPLE_RATE = 24_000


@dataclass(frozen=True)
class FeedbackRequest:
    audio: DecodedAudio
    instruction: str | None = None
    return_audio: bool = False


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict]
    options: SamplingOptions = field(default_factory=SamplingOptions)


class OmniModel:
    """A loaded Qwen2.5-Omni model with its processor; not thread-safe (the ModelSlot serialises calls)."""

    def __init__(self, model, processor, placement: Placement, config: WorkerConfig):
        self.model = model
        self.processor = processor
        self.placement = placement
        self.config = config
        self.speech = isinstance(model, Qwen2_5OmniForConditionalGeneration) and model.has_talker
        self.thinker = model.thinker if isinstance(model, Qwen2_5OmniForConditionalGeneration) else model

    device_name = property(lambda self: self.placement.device)
    dtype_name = property(lambda self: self.placement.dtype_name)

    @classmethod
    def load(cls, config: WorkerConfig, placement: Placement) -> OmniModel:
        hub = hub_kwargs(config)
        processor = load_processor(Qwen2_5OmniProcessor, config.omni_model, **hub)
        model_cls = (
            Qwen2_5OmniForConditionalGeneration if config.omni_speech else Qwen2_5OmniThinkerForConditionalGeneration
        )
        model = model_cls.from_pretrained(
            config.omni_model, dtype=placement.dtype, device_map=placement.device, **hub
        ).eval()
        if config.omni_speech and config.omni_speaker not in model.speaker_map:
            raise ValueError(
                f"OMNI_SPEAKER={config.omni_speaker!r} is not in the checkpoint's speakers "
                f"({', '.join(model.speaker_map)})"
            )
        log.info("omni: %s loaded (speech output %s)", model_cls.__name__, "on" if config.omni_speech else "off")
        return cls(model, processor, placement, config)

    # -- feedback --------------------------------------------------------------------------------------------
    def _audio_inputs(self, audio: DecodedAudio, instruction: str):
        conversation = [
            {"role": "system", "content": [{"type": "text", "text": OMNI_SPEECH_SYSTEM_PROMPT}]},
            {"role": "user", "content": [{"type": "audio", "audio": "upload"}, {"type": "text", "text": instruction}]},
        ]
        text = self.processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        inputs = self.processor(
            text=[text], audio=[audio.samples], sampling_rate=audio.sample_rate, return_tensors="pt", padding=True
        )
        return inputs.to(self.model.device).to(self.placement.dtype)

    def preprocess(self, request: FeedbackRequest) -> dict:
        if request.return_audio and not self.speech:
            raise BadRequest("spoken feedback is switched off on this worker (OMNI_SPEECH=false)")
        started = time.perf_counter()
        instruction = request.instruction or OMNI_FEEDBACK_INSTRUCTION
        prepared = {
            "request": request,
            "feedback_inputs": self._audio_inputs(request.audio, instruction),
            "transcript_inputs": (
                self._audio_inputs(request.audio, OMNI_TRANSCRIPT_INSTRUCTION) if self.config.omni_transcript else None
            ),
        }
        prepared["preprocess_ms"] = ms(started)
        return prepared

    def forward(self, prepared: dict, deadline: float) -> dict:
        request: FeedbackRequest = prepared["request"]
        inputs = prepared["feedback_inputs"]
        started = time.perf_counter()
        if request.return_audio:
            sequences, waveform = self.model.generate(
                **inputs, generation_mode="audio", speaker=self.config.omni_speaker,
                thinker_max_new_tokens=self.config.omni_max_new_tokens, thinker_max_time=remaining(deadline),
                talker_max_new_tokens=self.config.omni_talker_max_new_tokens, talker_max_time=remaining(deadline),
            )
        else:
            sequences = self.thinker.generate(
                **inputs, max_new_tokens=self.config.omni_max_new_tokens, max_time=remaining(deadline)
            )
            waveform = None
        check_deadline(deadline)
        outputs = {
            "feedback_ids": sequences[:, inputs["input_ids"].shape[1]:],
            "waveform": waveform,
            "feedback_ms": ms(started),
        }
        transcript_inputs = prepared["transcript_inputs"]
        if transcript_inputs is not None:
            started = time.perf_counter()
            ids = self.thinker.generate(
                **transcript_inputs, max_new_tokens=self.config.omni_max_new_tokens, do_sample=False,
                max_time=remaining(deadline),
            )
            check_deadline(deadline)
            outputs["transcript_ids"] = ids[:, transcript_inputs["input_ids"].shape[1]:]
            outputs["transcript_ms"] = ms(started)
        return outputs

    def postprocess(self, prepared: dict, outputs: dict) -> dict:
        request: FeedbackRequest = prepared["request"]
        decode = self.processor.tokenizer.batch_decode
        feedback = decode(outputs["feedback_ids"], skip_special_tokens=True)[0].strip()
        transcript = None
        if "transcript_ids" in outputs:
            transcript = decode(outputs["transcript_ids"], skip_special_tokens=True)[0].strip() or None
        audio = None
        if outputs["waveform"] is not None:
            audio = {
                "format": "wav",
                "sample_rate": OUTPUT_SAMPLE_RATE,
                "base64": base64.b64encode(wav_bytes(outputs["waveform"])).decode("ascii"),
            }
        return {
            "feedback": feedback,
            "transcript": transcript,
            "audio": audio,
            "model": self.config.omni_model,
            "duration_s": request.audio.duration_s,
            "timings": {
                "decode_ms": round(request.audio.decode_ms, 1),
                "preprocess_ms": prepared["preprocess_ms"],
                "inference_ms": round(outputs["feedback_ms"] + outputs.get("transcript_ms", 0.0), 1),
                "feedback_ms": outputs["feedback_ms"],
                "transcript_ms": outputs.get("transcript_ms"),
            },
        }

    def feedback(self, request: FeedbackRequest, deadline: float) -> dict:
        prepared = self.preprocess(request)
        return self.postprocess(prepared, self.forward(prepared, deadline))

    # -- chat ------------------------------------------------------------------------------------------------
    def preprocess_chat(self, request: ChatRequest) -> dict:
        started = time.perf_counter()
        messages = list(request.messages)
        if not messages or messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": OMNI_SPEECH_SYSTEM_PROMPT})
        conversation = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in messages]
        text = self.processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        inputs = self.processor(text=[text], return_tensors="pt", padding=True).to(self.model.device)
        return {"inputs": inputs, "options": request.options, "preprocess_ms": ms(started)}

    def _generate_kwargs(self, prepared: dict, deadline: float) -> dict:
        options: SamplingOptions = prepared["options"]
        seed_everything(options.seed)
        kwargs = options.generate_kwargs(self.config.omni_max_new_tokens)
        return {**prepared["inputs"], **kwargs, "max_time": remaining(deadline)}

    def chat(self, request: ChatRequest, deadline: float) -> dict:
        started = time.perf_counter()
        prepared = self.preprocess_chat(request)
        prompt_tokens = int(prepared["inputs"]["input_ids"].shape[1])
        sequences = self.thinker.generate(**self._generate_kwargs(prepared, deadline))
        check_deadline(deadline)
        new_ids = sequences[:, prompt_tokens:]
        answer = self.processor.tokenizer.batch_decode(new_ids, skip_special_tokens=True)[0]
        return {"answer": answer, "timings": _chat_timings(started, prompt_tokens, int(new_ids.shape[1]), None)}

    def chat_stream(self, request: ChatRequest, deadline: float, cancel: threading.Event) -> Iterator[dict]:
        """Yields {"type": "token", "text"} pieces, then {"type": "done", "answer", "timings"}."""
        started = time.perf_counter()
        prepared = self.preprocess_chat(request)
        prompt_tokens = int(prepared["inputs"]["input_ids"].shape[1])
        streamer = TextIteratorStreamer(
            self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=remaining(deadline)
        )
        kwargs = self._generate_kwargs(prepared, deadline)
        kwargs.update(streamer=streamer, stopping_criteria=StoppingCriteriaList([CancelOnEvent(cancel)]))
        result: dict = {}

        def run() -> None:
            try:
                result["sequences"] = self.thinker.generate(**kwargs)
            except Exception as exc:  # surfaced to the stream below
                result["error"] = exc
                streamer.end()

        thread = threading.Thread(target=run, name="omni-chat-stream", daemon=True)
        thread.start()
        pieces: list[str] = []
        first_token_ms = None
        try:
            for piece in streamer:
                if not piece:
                    continue
                if first_token_ms is None:
                    first_token_ms = ms(started)
                pieces.append(piece)
                yield {"type": "token", "text": piece}
        except queue.Empty:
            raise BackendTimeout("the model produced no token before the request's time limit") from None
        finally:
            cancel.set()  # stops generation if the client went away; a no-op once it has finished
            thread.join()
        if "error" in result:
            raise result["error"]
        check_deadline(deadline)
        completion_tokens = int(result["sequences"].shape[1]) - prompt_tokens
        yield {
            "type": "done",
            "answer": "".join(pieces),
            "timings": _chat_timings(started, prompt_tokens, completion_tokens, first_token_ms),
        }


def _chat_timings(started: float, prompt_tokens: int, completion_tokens: int, first_token_ms) -> dict:
    total_ms = ms(started)
    return {
        "total_ms": total_ms,
        "load_ms": None,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "tokens_per_s": round(completion_tokens / (total_ms / 1000), 2) if total_ms > 0 else None,
        "first_token_ms": first_token_ms,
    }


def wav_bytes(waveform: torch.Tensor | np.ndarray, sample_rate: int = OUTPUT_SAMPLE_RATE) -> bytes:
    """A mono 16-bit PCM WAV file of `waveform` (floats in -1..1)."""
    samples = waveform.detach().float().cpu().numpy() if isinstance(waveform, torch.Tensor) else waveform
    samples = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
