"""``make bench-quick`` entry point: the daemon benchmark at one size.

    .venv/bin/python bench/bench_scale.py --executions 100 --quick   # < 60 s
    .venv/bin/python bench/bench_scale.py --executions 1000 --time-scale 30

Every other flag is passed to ``bench/bench_daemon.py`` (see its ``--help``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_daemon import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
