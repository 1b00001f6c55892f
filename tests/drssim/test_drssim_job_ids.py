"""drssim refuses malformed job IDs in DescribeJobs as DRS does: ValidationException, whole call.

botocore's ``drs`` model gives JobID ``min 24, max 24, pattern ^drsjob-[0-9a-zA-Z]{17}$`` and the
ValidationException shape (``message``, ``reason``, ``fieldList``). botocore checks only the
minimum on the client side, so a long ID reaches the service; DRS refuses the call, and with it
every valid ID it carries.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from drssim_helpers import start

NO_CLIENT_VALIDATION = Config(
    parameter_validation=False, retries={"mode": "standard", "total_max_attempts": 1}
)
BAD_IDS = (
    "not-a-job",
    "drsjob-" + "a" * 9_993,  # 10,000 characters: passes botocore's client-side check
    "drsjob-" + "a" * 16 + "\n",  # 24 characters, ends in a newline
    "drsjob-" + "a" * 17 + "\n",
    "DRSJOB-" + "a" * 17,
    "drsjob-" + "a" * 16 + "-",
)


@pytest.mark.parametrize("bad", BAD_IDS, ids=lambda b: repr(b[:12]) + f"+{len(b)}")
def test_one_malformed_job_id_refuses_the_whole_call(drs_factory: Any, bad: str) -> None:
    drs = drs_factory(config=NO_CLIENT_VALIDATION)
    good = start(drs)["jobID"]
    assert [j["jobID"] for j in drs.describe_jobs(filters={"jobIDs": [good]})["items"]] == [good]
    with pytest.raises(ClientError) as exc:
        drs.describe_jobs(filters={"jobIDs": [good, bad]})
    response = exc.value.response
    assert response["Error"]["Code"] == "ValidationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["reason"] == "fieldValidationFailed"
    assert "filters.jobIDs[1]" in [f["name"] for f in response["fieldList"]]
