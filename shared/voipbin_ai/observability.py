"""The one Logger and Metrics of every function, plus helpers that keep personal data out of logs.

Service name and metric namespace come from POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE
(template.yaml Globals), so nothing here is per function. No Tracer: Lambda's active tracing (template
`Tracing: Active`) records each invocation's segments without the X-Ray SDK, which is in maintenance and
cost most of a second of every cold start.
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

_VISIBLE_DIGITS = 2


def mask_phone(number: str | None) -> str:
    """A phone number reduced to what an operator needs to tell two apart: '+1*********67'.

    Phone numbers are personal data and never appear whole in logs.
    """
    if not number:
        return ""
    head = "+" if number.startswith("+") else ""
    digits = number[len(head) :]
    if len(digits) <= _VISIBLE_DIGITS * 2:
        return head + "*" * len(digits)
    return head + digits[0] + "*" * (len(digits) - 1 - _VISIBLE_DIGITS) + digits[-_VISIBLE_DIGITS:]
