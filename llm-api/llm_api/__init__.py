"""llm-api: the stack's HTTP front for chat (Ollama or the worker's Omni), sessions, voice feedback and form fields."""
