"""Qwen2.5-Omni: spoken-audio feedback (text, optionally speech out) and text chat.

Like a transformers pipeline, each task is preprocess (prompt + processor) -> forward (generate) -> postprocess
(decode, shape the response). Audio arrives already decoded to 16 kHz mono (see media.py).

Speech output needs the talker and token2wav, loaded only when OMNI_SPEECH is true, and the official system
prompt, which the worker always uses (the instruction goes in the user turn); Token2Wav synthesises long answers in
bounded windows (speech.py). The transcript comes from a second, greedy pass over the same audio features with
Qwen's speech-recognition prompt (OMNI_TRANSCRIPT=false skips it: null; so does running out of time).

A transcription alone (`TranscribeRequest`, POST /omni/transcribe) runs only that greedy pass, on features computed
with the speech-recognition prompt itself: no feedback, no speech. OMNI_TRANSCRIPT does not apply to it (that setting
is the feedback's extra pass), and running out of time is 504, not null.
"""

from __future__ import annotations

import base64
import io
import logging
import math
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
from .generation import (
    CancelOnEvent,
    SamplingOptions,
    StopAtDeadline,
    check_deadline,
    ms,
    remaining,
    seed_everything,
)
from .inspection import measure, verify
from .media import DecodedAudio
from .plan_sizes import PROMPT_TEXT_TOKENS, audio_tokens
from .processors import load_processor
from .prompts import (
    OMNI_ASR_SYSTEM_PROMPT,
    OMNI_FEEDBACK_INSTRUCTION,
    OMNI_SPEECH_SYSTEM_PROMPT,
    OMNI_TRANSCRIPT_INSTRUCTION,
)
from .runtime import Placement, hub_kwargs, release_memory
from .schemas import ChatResponse, ChatTimings, FeedbackResponse, TranscribeResponse
from .speech import WindowedToken2Wav, codes_per_second, window_codes_for

log = logging.getLogger(__name__)

OUTPUT_SAMPLE_RATE = 24_000
TRANSCRIPT_TOKENS_PER_SECOND = 8
TRANSCRIPT_MIN_TOKENS = 32


@dataclass(frozen=True)
class FeedbackRequest:
    audio: DecodedAudio
    instruction: str | None = None
    return_audio: bool = False


@dataclass(frozen=True)
class TranscribeRequest:
    audio: DecodedAudio
    language: str | None = None  # a BCP-47-ish hint (`ja`, `en-US`), put in the instruction


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
        self.talker_max_new_tokens = talker_token_budget(model, config) if self.speech else 0
        self.footprint = measure(model)

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
        _drop_vision_tower(model)
        if config.omni_speech:
            # Token2Wav runs in float32 (transformers casts it on the first spoken answer otherwise, a surprise
            # allocation mid-request); long answers are synthesised in bounded windows.
            model.token2wav = WindowedToken2Wav(
                model.token2wav.float(),
                window_codes_for(model.token2wav.config.dit_config, config.omni_speech_window_s),
            )
        release_memory()
        verify(model, placement.device, _expected_dtypes(placement), what=f"omni model {config.omni_model}")
        log.info("omni: %s loaded (speech output %s)", model_cls.__name__, "on" if config.omni_speech else "off")
        return cls(model, processor, placement, config)

    # -- feedback --------------------------------------------------------------------------------------------
    def _conversation_text(self, system: str, instruction: str) -> str:
        conversation = [
            {"role": "system", "content": [{"type": "text", "text": system}]},
            {"role": "user", "content": [{"type": "audio", "audio": "upload"}, {"type": "text", "text": instruction}]},
        ]
        return self.processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)

    def _audio_inputs(self, audio: DecodedAudio, instruction: str, system: str = OMNI_SPEECH_SYSTEM_PROMPT):
        """The feedback prompt with the audio's features (padded to the clip's length, see `_padded_samples`)."""
        inputs = self.processor(
            text=[self._conversation_text(system, instruction)], audio=[audio.samples],
            sampling_rate=audio.sample_rate, return_tensors="pt", padding=True,
            audio_kwargs={"max_length": self._padded_samples(audio)},
        )
        return inputs.to(self.model.device).to(self.placement.dtype)

    def _padded_samples(self, audio: DecodedAudio) -> int:
        """The processor pads features to 300 s (its only padding mode); the encoder reads only the frames the
        feature mask marks valid, so padding to the clip plus a second gives the same features for 1/10 to 1/100
        of the work (a 300 s STFT took 311-425 ms per call on 2 cores). The extra second keeps the frames at the
        clip's end computed against zeros, exactly as with the full padding."""
        seconds = math.ceil(audio.samples.size / audio.sample_rate) + 1
        return min(seconds * audio.sample_rate, self.processor.feature_extractor.n_samples)

    def _transcript_inputs(self, feedback_inputs) -> dict:
        """The speech-recognition prompt over the same audio features: only its text is tokenised again."""
        placeholders = int((feedback_inputs["input_ids"] == self.processor.audio_token_id).sum())
        text = self._conversation_text(OMNI_ASR_SYSTEM_PROMPT, OMNI_TRANSCRIPT_INSTRUCTION)
        text = text.replace(self.processor.audio_token, self.processor.audio_token * placeholders)
        tokens = self.processor.tokenizer([text], return_tensors="pt").to(self.model.device)
        return {
            "input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"],
            "input_features": feedback_inputs["input_features"],
            "feature_attention_mask": feedback_inputs["feature_attention_mask"],
        }

    def preprocess(self, request: FeedbackRequest | TranscribeRequest) -> dict:
        """Prompts and audio features, computed once per request and outside the model lock (see ModelSlot)."""
        if isinstance(request, TranscribeRequest):
            return self._preprocess_transcription(request)
        if request.return_audio and not self.speech:
            raise BadRequest(
                "Spoken feedback is switched off on this worker (OMNI_SPEECH=false); send return_audio=false."
            )
        started = time.perf_counter()
        feedback_inputs = self._audio_inputs(request.audio, request.instruction or OMNI_FEEDBACK_INSTRUCTION)
        return {
            "request": request,
            "feedback_inputs": feedback_inputs,
            "transcript_inputs": self._transcript_inputs(feedback_inputs) if self.config.omni_transcript else None,
            "preprocess_ms": ms(started),
        }

    def forward(self, prepared: dict, deadline: float) -> dict:
        if prepared.get("task") == "transcribe":
            return self._forward_transcription(prepared, deadline)
        request: FeedbackRequest = prepared["request"]
        inputs = prepared["feedback_inputs"]
        started = time.perf_counter()
        waveform, speech_truncated = None, False
        if request.return_audio:
            sequences, waveform = self.model.generate(
                **inputs, generation_mode="audio", speaker=self.config.omni_speaker,
                thinker_max_new_tokens=self.config.omni_max_new_tokens, thinker_max_time=remaining(deadline),
                talker_max_new_tokens=self.talker_max_new_tokens,
                talker_stopping_criteria=StoppingCriteriaList([StopAtDeadline(deadline)]),
                token2wav_deadline=deadline,
            )
            speech_truncated = self.model.token2wav.last_code_count >= self.talker_max_new_tokens
        else:
            sequences = self.thinker.generate(
                **inputs, max_new_tokens=self.config.omni_max_new_tokens, max_time=remaining(deadline)
            )
        check_deadline(deadline)
        if speech_truncated:
            log.warning("omni: the spoken answer reached the talker's limit of %d codes (%.0f s) and was cut; "
                        "raise OMNI_TALKER_MAX_NEW_TOKENS", self.talker_max_new_tokens,
                        self.talker_max_new_tokens / codes_per_second(self.model.token2wav.dit.config))
        outputs = {
            "feedback_ids": sequences[:, inputs["input_ids"].shape[1]:],
            "waveform": waveform,
            "speech_truncated": speech_truncated,
            "feedback_ms": ms(started),
        }
        if prepared["transcript_inputs"] is not None:
            outputs.update(self._transcribe(prepared, deadline))
        return outputs

    def _transcribe(self, prepared: dict, deadline: float) -> dict:
        """Greedy speech recognition with a budget scaled to the clip; out of time, the transcript is null (the
        feedback is finished and is not thrown away)."""
        inputs = prepared["transcript_inputs"]
        budget = transcript_token_budget(prepared["request"].audio.duration_s)
        started = time.perf_counter()
        if deadline - time.monotonic() <= 0:
            log.info("omni: no time left for the transcript; it is null")
            return {"transcript_ids": None, "transcript_ms": 0.0}
        ids = self.thinker.generate(
            **inputs, max_new_tokens=budget, do_sample=False,
            stopping_criteria=StoppingCriteriaList([StopAtDeadline(deadline)]),
        )
        if time.monotonic() >= deadline:
            log.info("omni: the transcript ran out of time after %.0f ms; it is null", ms(started))
            return {"transcript_ids": None, "transcript_ms": ms(started)}
        return {"transcript_ids": ids[:, inputs["input_ids"].shape[1]:], "transcript_ms": ms(started)}

    def postprocess(self, prepared: dict, outputs: dict) -> FeedbackResponse | TranscribeResponse:
        if prepared.get("task") == "transcribe":
            return self._postprocess_transcription(prepared, outputs)
        request: FeedbackRequest = prepared["request"]
        decode = self.processor.tokenizer.batch_decode
        feedback = decode(outputs["feedback_ids"], skip_special_tokens=True)[0].strip()
        transcript = None
        if outputs.get("transcript_ids") is not None:
            transcript = decode(outputs["transcript_ids"], skip_special_tokens=True)[0].strip() or None
        audio = None
        if outputs["waveform"] is not None:
            audio = {
                "format": "wav",
                "sample_rate": OUTPUT_SAMPLE_RATE,
                "base64": base64.b64encode(wav_bytes(outputs["waveform"])).decode("ascii"),
                "truncated": outputs["speech_truncated"],
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
                "inference_ms": round(outputs["feedback_ms"] + (outputs.get("transcript_ms") or 0.0), 1),
                "feedback_ms": outputs["feedback_ms"],
                "transcript_ms": outputs.get("transcript_ms"),
            },
        }

    def feedback(self, request: FeedbackRequest, deadline: float) -> FeedbackResponse:
        prepared = self.preprocess(request)
        return self.postprocess(prepared, self.forward(prepared, deadline))

    # -- transcription alone -------------------------------------------------------------------------------------
    def _preprocess_transcription(self, request: TranscribeRequest) -> dict:
        """The speech-recognition prompt (with the language hint, if any) and the audio's features."""
        started = time.perf_counter()
        inputs = self._audio_inputs(request.audio, transcript_instruction(request.language), OMNI_ASR_SYSTEM_PROMPT)
        return {"task": "transcribe", "request": request, "transcript_inputs": inputs, "preprocess_ms": ms(started)}

    def _forward_transcription(self, prepared: dict, deadline: float) -> dict:
        """The feedback's greedy transcript pass (`_transcribe`, budgeted by `transcript_token_budget`) and nothing
        else; here it is the whole answer, so running out of time is 504."""
        outputs = self._transcribe(prepared, deadline)
        if outputs["transcript_ids"] is None:
            raise BackendTimeout(
                "The transcription ran past the request's time limit (REQUEST_TIMEOUT_S); send a shorter recording."
            )
        return outputs

    def _postprocess_transcription(self, prepared: dict, outputs: dict) -> TranscribeResponse:
        request: TranscribeRequest = prepared["request"]
        transcript = self.processor.tokenizer.batch_decode(outputs["transcript_ids"], skip_special_tokens=True)[0]
        return {
            "transcript": transcript.strip(),
            "model": self.config.omni_model,
            "duration_s": request.audio.duration_s,
            "timings": {
                "decode_ms": round(request.audio.decode_ms, 1),
                "preprocess_ms": prepared["preprocess_ms"],
                "inference_ms": outputs["transcript_ms"],
            },
        }

    def transcribe(self, request: TranscribeRequest, deadline: float) -> TranscribeResponse:
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

    def chat(self, request: ChatRequest, deadline: float) -> ChatResponse:
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
            raise BackendTimeout(
                "The model produced no token before the request's time limit; try again when it is less busy."
            ) from None
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


def _drop_vision_tower(model) -> None:
    """The worker never sends Omni an image or a video: its vision encoder (~0.67 B parameters in the 3B model)
    would only take device memory. Image and video inputs would now fail; nothing sends them."""
    thinker = model.thinker if isinstance(model, Qwen2_5OmniForConditionalGeneration) else model
    thinker.model.visual = None


def _expected_dtypes(placement: Placement):
    """Token2Wav runs in float32 (as transformers itself runs it); every other parameter in the compute dtype."""
    compute = placement.dtype_name

    def expected(name: str, _param) -> tuple[str, ...]:
        return ("float32",) if name.startswith("token2wav.") else (compute,)

    return expected


def talker_token_budget(model, config: WorkerConfig) -> int:
    """The talker's code budget: OMNI_TALKER_MAX_NEW_TOKENS, within the positions the talker has left after the
    longest prompt the worker sends (the limits come from the loaded checkpoint, not from assumptions)."""
    talker_positions = model.talker.config.max_position_embeddings
    longest_prompt = audio_tokens(config.max_audio_seconds) + PROMPT_TEXT_TOKENS + config.omni_max_new_tokens
    return max(1, min(config.omni_talker_max_new_tokens, talker_positions - longest_prompt))


def transcript_instruction(language: str | None) -> str:
    """Qwen's transcription instruction; a caller's language hint (validated: letters and `-`) is added to it."""
    if not language:
        return OMNI_TRANSCRIPT_INSTRUCTION
    return f"{OMNI_TRANSCRIPT_INSTRUCTION} The speaker is expected to speak the language '{language}' (BCP 47)."


def transcript_token_budget(duration_s: float) -> int:
    """Enough tokens for fast speech in any language (~8 tokens per second covers Japanese), never the feedback's
    budget: a greedy pass on a 3 s clip should not be allowed to ramble for 512 tokens."""
    return TRANSCRIPT_MIN_TOKENS + math.ceil(duration_s * TRANSCRIPT_TOKENS_PER_SECOND)


def _chat_timings(started: float, prompt_tokens: int, completion_tokens: int, first_token_ms) -> ChatTimings:
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
