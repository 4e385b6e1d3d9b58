"""The Moshi server protocol (kyutai-labs/moshi, `moshi.server` and its web client): binary WebSocket messages whose
first byte is the kind. Audio is Ogg Opus, 24 kHz mono, both ways."""

from __future__ import annotations

HANDSHAKE = 0x00  # server -> client: the conversation has started
AUDIO = 0x01  # both ways: Ogg Opus bytes (whole pages in practice; a reader must not assume it)
TEXT = 0x02  # server -> client: a UTF-8 piece of the model's own words
ERROR = 0x05  # server -> client: a UTF-8 sentence saying why the conversation ends (Moshi's web client's kind)

# WebSocket close codes (RFC 6455 section 7.4.1).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_UNSUPPORTED = 1003  # a text message, or an unknown kind
CLOSE_INVALID_PAYLOAD = 1007  # audio that is not Ogg Opus
CLOSE_INTERNAL_ERROR = 1011  # the model failed on a frame
CLOSE_TRY_AGAIN_LATER = 1013  # every conversation slot taken, or the model still loading


def handshake() -> bytes:
    return bytes([HANDSHAKE])


def audio(ogg: bytes) -> bytes:
    return bytes([AUDIO]) + ogg


def text(piece: str) -> bytes:
    return bytes([TEXT]) + piece.encode("utf-8")


def error(message: str) -> bytes:
    return bytes([ERROR]) + message.encode("utf-8")
