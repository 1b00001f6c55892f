"""drssim: an AWS Elastic Disaster Recovery (DRS) simulator speaking the real wire protocol.

Moto has no DRS. drssim serves the rest-json ``drs`` API for the unmodified boto3/aioboto3
client (via ``endpoint_url``) with realistic, controllable job timelines, plus a ``/_sim/``
control API. See docs/drssim.md.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
