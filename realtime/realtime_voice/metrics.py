"""Prometheus metrics of the real-time voice service, served at `GET /metrics` (the service is on the compose back
network only, like the worker's port). One registry per `Metrics` object, so each Engine (and each test) starts at 0.

| Metric                             | Type      | Labels      | Meaning                                            |
|------------------------------------|-----------|-------------|----------------------------------------------------|
| `realtime_conversations_active`    | gauge     |             | conversations in progress                          |
| `realtime_conversations_total`     | counter   | `reason`    | ended conversations, by why (see REASONS)          |
| `realtime_refused_total`           | counter   | `reason`    | connections refused: `busy`, `loading`, `failed`   |
| `realtime_frames_total`            | counter   | `direction` | 80 ms frames: `in` (the user's), `out` (the model's)|
| `realtime_frame_step_seconds`      | histogram |             | Mimi encode + LM step + Mimi decode, per frame     |
| `realtime_model_state`             | gauge     | `state`     | 1 for the model's state (`loading`/`ready`/`error`)|
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Why a conversation ended: the `reason` label of realtime_conversations_total.
REASONS = ("client_left", "idle", "time_limit", "unsupported_message", "invalid_audio", "too_large", "model_error",
           "connection_lost", "shutdown")
STATES = ("loading", "ready", "error")
STEP_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.4, 0.8, 1.6)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.active = Gauge("realtime_conversations_active", "Conversations in progress.", registry=registry)
        self.conversations = Counter("realtime_conversations", "Conversations ended, by why.", ["reason"],
                                     registry=registry)
        self.refused = Counter("realtime_refused", "Connections refused, by why.", ["reason"], registry=registry)
        self.frames = Counter("realtime_frames", "80 ms frames, by direction.", ["direction"], registry=registry)
        self.step = Histogram("realtime_frame_step_seconds", "Mimi encode + LM step + Mimi decode of one frame.",
                              buckets=STEP_BUCKETS, registry=registry)
        self.model_state = Gauge("realtime_model_state", "1 for the model's current state.", ["state"],
                                 registry=registry)
        for reason in REASONS:
            self.conversations.labels(reason)
        for reason in ("busy", "loading", "failed"):
            self.refused.labels(reason)
        for direction in ("in", "out"):
            self.frames.labels(direction)

    def render(self, state: str) -> bytes:
        for name in STATES:
            self.model_state.labels(name).set(1 if name == state else 0)
        return generate_latest(self.registry)
