"""`python -m deploy …` from the repository root."""

from deploy.cli import main

raise SystemExit(main())
