"""The tracking pipeline, in the order the data flows: find → schedule → track → batch, and the launcher beside it.

The pipeline does I/O through :mod:`poller.aws` and :mod:`poller.store` and decides nothing itself:
every status decision is a pure rule of :mod:`poller.domain`.
"""
