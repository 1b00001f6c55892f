"""Development tooling for the DRS execution poller: the embedded demo, local AWS stand-ins, a fault proxy.

Installed by ``make`` into the development virtualenv only; the production image never carries it.
"""
