"""DRS execution poller: tracks AWS Elastic Disaster Recovery executions to launched servers."""

__version__ = "0.1.0"
