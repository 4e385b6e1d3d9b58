"""Real-time spoken dialogue: J-Moshi (or any Moshi checkpoint) over the Moshi WebSocket protocol."""
