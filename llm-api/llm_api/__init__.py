"""llm-api: the stack's HTTP front for chat (Ollama or the worker's Omni model), sessions and media routes."""
