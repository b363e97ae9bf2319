"""``python -m broker``: the same as the ``broker`` console script."""

from broker.cli import main

raise SystemExit(main())
