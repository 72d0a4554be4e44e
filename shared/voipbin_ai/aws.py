"""botocore settings of every AWS client: timeouts sized to the deadlines they serve, standard retries.

botocore's defaults (a 60 s read timeout, legacy retries) would let one stalled call outlast a voice turn's
4 s deadline or the ingress's answer to VoIPBin, which gives up and retries. With these, a stalled call
fails over to a new attempt within the deadline, and the last failure surfaces as an error the caller
handles. Imported only where a client is made, so functions that make none never import botocore for it.
"""

from typing import Final

from botocore.config import Config


def _config(*, connect_seconds: float, read_seconds: float, attempts: int) -> Config:
    return Config(
        connect_timeout=connect_seconds,
        read_timeout=read_seconds,
        retries={"mode": "standard", "total_max_attempts": attempts},
        tcp_keepalive=True,
    )


# A DynamoDB call takes milliseconds in-region; three attempts fit a voice turn's 4 s deadline.
DYNAMODB: Final = _config(connect_seconds=1.0, read_seconds=2.0, attempts=3)
# PutEvents while VoIPBin waits for the ingress's answer: three attempts well inside the 10 s timeout.
EVENTBRIDGE: Final = _config(connect_seconds=1.0, read_seconds=1.5, attempts=3)
# SSM and Secrets Manager, read once per cache period at most, at a cold start.
SECRETS: Final = _config(connect_seconds=1.0, read_seconds=3.0, attempts=3)
# SendMessage of a voice event while VoIPBin waits for the ingress's answer (as PutEvents: three attempts well
# inside its 10 s timeout), and of a delayed action (after a voice turn's words are out, beside an SMS).
SQS: Final = _config(connect_seconds=1.0, read_seconds=1.5, attempts=3)
# Bedrock's Retrieve, from inside a turn (search_knowledge): two attempts within a voice turn's deadline.
BEDROCK_RETRIEVE: Final = _config(connect_seconds=1.0, read_seconds=2.0, attempts=2)
