"""The one Logger, Tracer and Metrics of every function, plus helpers that keep personal data out of logs.

Service name and metric namespace come from POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE
(template.yaml Globals), so nothing here is per function.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# botocore only at import: patching every library X-Ray knows would import httpx (and more) into the
# ingress's cold start. Functions that make HTTP calls add httpx with trace_http().
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()

_VISIBLE_DIGITS = 2


def trace_http() -> None:
    """Trace httpx requests (VoIPBin, the LLM, tools) as X-Ray subsegments; a no-op when tracing is off."""
    tracer.patch(("httpx",))


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
