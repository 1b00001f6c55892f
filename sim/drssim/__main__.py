"""``python -m drssim`` is the same as the ``drssim`` script."""

from drssim.cli import main

raise SystemExit(main())
