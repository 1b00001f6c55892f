"""The rules of the poller as pure functions over plain models: no I/O, time passed in."""
