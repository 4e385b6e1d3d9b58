"""One blueprint per route group: chat, models, sessions, media (worker routes), health."""
