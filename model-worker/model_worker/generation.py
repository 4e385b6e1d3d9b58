"""Small helpers shared by both models' generate calls: deadlines, cancellation, sampling options, seeds."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import torch
from transformers import StoppingCriteria

from .errors import BackendTimeout

# A temperature this small samples as greedy decoding does, and a far smaller one (1e-40, still in the contract's
# 0-2) divides the logits into infinities, which transformers' sampling refuses: both are answered greedily.
GREEDY_BELOW = 1e-4


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None

    def generate_kwargs(self, default_max_tokens: int) -> dict:
        kwargs: dict = {"max_new_tokens": self.max_tokens or default_max_tokens}
        if self.temperature is not None:
            if self.temperature < GREEDY_BELOW:
                kwargs["do_sample"] = False
            else:
                kwargs.update(do_sample=True, temperature=self.temperature)
        if self.top_p is not None and kwargs.get("do_sample", True):
            kwargs["top_p"] = self.top_p
        return kwargs


class CancelOnEvent(StoppingCriteria):
    """Stops generation when `event` is set (the client went away)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class StopAtDeadline(StoppingCriteria):
    """Stops generation at an absolute time.monotonic() deadline (`max_time` counts from each generate's start,
    so a second model run after a first one would get the whole budget again)."""

    def __init__(self, deadline: float):
        self.deadline = deadline

    def __call__(self, input_ids, scores, **kwargs):
        late = time.monotonic() >= self.deadline
        return torch.full((input_ids.shape[0],), late, dtype=torch.bool, device=input_ids.device)


def remaining(deadline: float) -> float:
    """Seconds left before `deadline` (time.monotonic()); 504 when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise BackendTimeout("The request ran past its time limit (REQUEST_TIMEOUT_S); send a shorter input.")
    return left


def check_deadline(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise BackendTimeout(
            "Inference ran past the request's time limit (REQUEST_TIMEOUT_S) and the answer was cut off; "
            "send a shorter input."
        )


def seed_everything(seed: int | None) -> None:
    if seed is not None:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)


def ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
