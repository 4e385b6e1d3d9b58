"""Loading the Qwen processors, with or without torchvision.

In transformers 5 every video processor needs torchvision, and the Qwen processors build their video processor
eagerly even when only images or audio are used (huggingface/transformers#48558). The CUDA image ships
torchvision; a CPU machine with torch 2.13 cannot (the only torchvision build for it is CUDA-linked). The worker
never sends video, so without torchvision it loads every other part with the real Auto classes and the
checkpoint's own configuration and fills the video slot with `VideoInputUnavailable`, which refuses video.
Without torchvision transformers cannot even name the video base class (`VideoProcessorMixin` is not exported), so
the processor's argument check is told, in a subclass, to accept exactly that stand-in for the video slot.
"""

from __future__ import annotations

import logging

from transformers import AutoFeatureExtractor, AutoImageProcessor, AutoTokenizer
from transformers.utils import is_torchvision_available
from transformers.video_processing_utils import VideoProcessorMixin

log = logging.getLogger(__name__)

_AUTO_CLASSES = {
    "tokenizer": AutoTokenizer,
    "image_processor": AutoImageProcessor,
    "feature_extractor": AutoFeatureExtractor,
}


class VideoInputUnavailable(VideoProcessorMixin):
    """The video part of a processor on a machine without torchvision: any video input is refused."""

    model_input_names = ["pixel_values_videos", "video_grid_thw"]  # noqa: RUF012  (transformers' own shape)

    def preprocess(self, videos, **kwargs):
        raise ValueError("video input needs torchvision, which is not installed; the worker takes no video")


def _video_optional(processor_cls):
    """`processor_cls` whose constructor accepts `VideoInputUnavailable` as its video processor."""

    def check_argument_for_proper_class(self, argument_name, argument):
        if argument_name == "video_processor" and isinstance(argument, VideoInputUnavailable):
            return VideoInputUnavailable
        return processor_cls.check_argument_for_proper_class(self, argument_name, argument)

    return type(
        processor_cls.__name__, (processor_cls,),
        {"check_argument_for_proper_class": check_argument_for_proper_class, "__module__": __name__},
    )


def load_processor(processor_cls, path: str, **hub_kwargs):
    """`processor_cls.from_pretrained(path)`, or the same parts minus video when torchvision is missing."""
    if is_torchvision_available():
        return processor_cls.from_pretrained(path, **hub_kwargs)
    processor_dict, init_kwargs = processor_cls.get_processor_dict(path, **hub_kwargs)
    parts = []
    for attribute in processor_cls.get_attributes():
        if attribute == "video_processor":
            parts.append(VideoInputUnavailable())
        elif attribute in _AUTO_CLASSES:
            parts.append(_AUTO_CLASSES[attribute].from_pretrained(path, **hub_kwargs))
        else:
            raise ValueError(f"{processor_cls.__name__} has a part the worker cannot load: {attribute}")
    log.info("torchvision is not installed: %s loaded without a video processor", processor_cls.__name__)
    return _video_optional(processor_cls).from_args_and_dict(parts, processor_dict, **init_kwargs)
