"""ClientLoop's performance suite: ``python -m bench`` (or ``./scripts/bench``); see
docs/performance.md. The older single-purpose benches (``console_bench.py``,
``registry_bench.py``) live beside it and run as scripts."""
