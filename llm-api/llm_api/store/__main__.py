"""`python -m llm_api.store`: migrate the database the environment configures; print the schema version.

gunicorn's master runs this for PostgreSQL (`migrate_store`), so psycopg is imported in this short-lived process,
not in the master. It prints one line on stderr and exits 1 when the configuration or the database is wrong.
"""

from __future__ import annotations

import os
import sys

from ..config import ConfigError, load_config
from . import StoreError, open_store


def main() -> int:
    try:
        store = open_store(load_config(os.environ))
        version = store.migrate()
        store.close()
    except (ConfigError, StoreError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
