from poller_devtools.cli import main

raise SystemExit(main())
