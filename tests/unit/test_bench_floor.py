"""The cold-start benchmark's floor: which third-party modules the project's own code imports at init."""

from bench.cold_start import floor_modules

# `-X importtime` lines as the probe's init phase prints them: children first, two spaces a level.
IMPORTTIME = """\
lambda-bootstrap-phase:init
import time:       100 |        100 |     typing
import time:       200 |        900 |     pydantic
import time:       300 |       1500 |   aws_lambda_powertools.logging
import time:       100 |        100 |     pydantic.main
import time:       100 |        300 |   voipbin_ai.models
import time:       400 |       2000 | voipbin_ai.observability
import time:        50 |       5000 |   openai
import time:       100 |       5200 | voipbin_ai.ai.llm
import time:        30 |         30 | json
lambda-bootstrap-phase:handle
import time:        50 |       1000 | boto3
lambda-bootstrap-phase:end
"""


def test_the_floor_is_what_first_party_modules_import_from_third_parties_at_init() -> None:
    floor = floor_modules(IMPORTTIME, frozenset({"voipbin_ai", "app"}))

    # pydantic came in through powertools (so the floor has it anyway); the stdlib and handle-time imports are out.
    assert floor == ["aws_lambda_powertools.logging", "pydantic.main", "openai"]
