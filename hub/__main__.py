"""`python -m hub` runs the command line."""

from hub.cli.main import main

raise SystemExit(main())
