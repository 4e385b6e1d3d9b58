"""One blueprint per route group: health, omni, detect, and the managed-cloud contracts."""
