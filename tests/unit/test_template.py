"""template.yaml: the shape of the deployment, and the rules' and queue filters' patterns as AWS evaluates them."""

import ast
import json
import re
from typing import Any

import pytest

from functions.ingress.app import WEBHOOK_ROUTE
from local.bus import BusRule, rules_from_template
from local.lambda_events import eventbridge_event
from local.queue import QueueConsumer, consumers_from_template
from local.stack import ENTRY_HANDLER
from local.template import REPO_ROOT, parsed_template, template_resources
from tests.helpers import WEBHOOK_SAMPLES, granted_dynamodb, load_json
from voipbin_ai.bus import EVENT_SOURCE, OWN_SOURCE, WARM_UP
from voipbin_ai.models.summary import CALL_SUMMARIZED, CONVERSATION_SUMMARIZED
from voipbin_ai.observability import Metric

# The functions behind the bus, and the types each one's rule takes.
EVENT_FUNCTIONS = {
    "CallProgressingFunction": {"call_progressing"},
    "CallHangupFunction": {"call_hangup"},
    "InboundSmsFunction": {"message_created"},
    "ConversationMessageFunction": {"conversation_message_created"},
}
# The voice events a caller waits on: the ingress queues them for the reply function.
VOICE_EVENTS = {"transcript_created", "transcribe_speech_started"}


def template() -> dict[str, Any]:
    return parsed_template()


def resources(kind: str) -> dict[str, Any]:
    return template_resources(kind)


def rule_of(function: str) -> BusRule:
    [rule] = [rule for rule in rules_from_template() if rule.function == function]
    return rule


def ingress_variables() -> dict[str, Any]:
    return dict(resources("AWS::Serverless::Function")["IngressFunction"]["Properties"]["Environment"]["Variables"])


def queued_types() -> set[str]:
    """The types the ingress sends to the voice events queue instead of the bus."""
    return {name for name in str(ingress_variables()["QUEUED_EVENT_TYPES"]).split(",") if name}


def voice_consumer() -> QueueConsumer:
    """The consumer of the queue the ingress queues to."""
    queue = ingress_variables()["VOICE_EVENTS_QUEUE_URL"]["Ref"]
    [consumer] = [consumer for consumer in consumers_from_template() if consumer.queue == queue]
    return consumer


def routed(envelope: dict[str, Any]) -> set[str]:
    """The functions a webhook reaches as deployed: through its queue if the ingress queues it, else the bus."""
    if envelope["type"] in queued_types():
        consumer = voice_consumer()
        return {consumer.function} if consumer.accepts(json.dumps(envelope)) else set()
    event = eventbridge_event(envelope["type"], envelope)
    return {rule.function for rule in rules_from_template() if rule.matches(event)}


def sample(name: str, **data_changes: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = load_json(WEBHOOK_SAMPLES / name)
    envelope["data"].update(data_changes)
    return envelope


def test_runtime_is_python_312_or_newer() -> None:
    runtime = template()["Globals"]["Function"]["Runtime"]
    assert runtime.startswith("python3.") and int(runtime.split(".")[1]) >= 12


def test_every_function_uses_the_one_layer_built_from_shared() -> None:
    [(layer_id, layer)] = resources("AWS::Serverless::LayerVersion").items()
    assert layer["Properties"]["ContentUri"] == "shared/"
    assert template()["Globals"]["Function"]["Layers"] == [{"Ref": layer_id}]


def test_every_function_is_started_by_the_layers_entry_from_its_own_app() -> None:
    assert template()["Globals"]["Function"]["Handler"] == ENTRY_HANDLER
    for name, function in resources("AWS::Serverless::Function").items():
        assert "Handler" not in function["Properties"], name
        assert (REPO_ROOT / function["Properties"]["CodeUri"] / "app.py").is_file(), name
    module = ENTRY_HANDLER.rsplit(".", 1)[0].replace(".", "/")
    assert (REPO_ROOT / "shared" / f"{module}.py").is_file()


def test_the_layer_and_every_function_are_built_by_the_makefile_with_bytecode() -> None:
    built = {**resources("AWS::Serverless::LayerVersion"), **resources("AWS::Serverless::Function")}
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")

    for logical_id, resource in built.items():
        metadata = resource["Metadata"]
        assert (metadata["BuildMethod"], metadata["ContextPath"]) == ("makefile", "."), logical_id
        target = "build-SharedLayer:" if logical_id == "SharedLayer" else "build-%Function:"
        assert target in makefile


def test_the_webhook_route_is_the_ingress() -> None:
    ingress = resources("AWS::Serverless::Function")["IngressFunction"]["Properties"]
    [event] = ingress["Events"].values()
    assert event["Type"] == "HttpApi"
    assert event["Properties"]["Path"] == WEBHOOK_ROUTE.replace("<token>", "{token}")
    assert event["Properties"]["Method"] == "POST"


@pytest.mark.parametrize("function", sorted(EVENT_FUNCTIONS))
def test_every_event_function_has_its_rule_retry_policy_and_dead_letter_queue(function: str) -> None:
    properties = resources("AWS::Serverless::Function")[function]["Properties"]
    event = properties["Events"]["Voipbin"]

    assert event["Type"] == "EventBridgeRule"
    assert event["Properties"]["EventBusName"] == {"Ref": "EventBus"}
    assert event["Properties"]["Pattern"]["source"] == [EVENT_SOURCE]
    assert set(event["Properties"]["Pattern"]["detail-type"]) == EVENT_FUNCTIONS[function]
    assert event["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert event["Properties"]["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    # Failures inside the function (after Lambda's own retries) land in the same queue.
    on_failure = properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}


def test_the_voice_events_are_queued_for_the_reply_function_and_taken_by_no_rule() -> None:
    consumer = voice_consumer()
    event = resources("AWS::Serverless::Function")[consumer.function]["Properties"]["Events"]["Voipbin"]
    [pattern] = consumer.filters
    bus_types = {
        detail_type
        for rule in rules_from_template()
        if rule.pattern.get("source") == [EVENT_SOURCE]
        for detail_type in rule.pattern["detail-type"]
    }

    # The ingress's queued types are exactly those the consumer's filter takes, and no rule's: one delivery.
    assert queued_types() == set(pattern["body"]["type"]) == VOICE_EVENTS
    assert consumer.function == "TranscriptCreatedFunction"
    assert bus_types.isdisjoint(queued_types())
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": [consumer.queue, "Arn"]}
    # The ingress may send to this queue and no other.
    queue_policies = [policy for policy in ingress_policies() if "SQSSendMessagePolicy" in str(policy)]
    assert queue_policies == [{"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": [consumer.queue, "QueueName"]}}}]


def test_the_voice_events_queue_delivers_one_event_at_once_and_dead_letters_what_keeps_failing() -> None:
    consumer = voice_consumer()
    function = resources("AWS::Serverless::Function")[consumer.function]["Properties"]
    mapping = function["Events"]["Voipbin"]["Properties"]
    queue = resources("AWS::SQS::Queue")[consumer.queue]["Properties"]
    timeout = function.get("Timeout", template()["Globals"]["Function"]["Timeout"])
    window = int(template()["Parameters"]["WebhookMaxAgeSeconds"]["Default"])

    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (1, 0)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert queue["SqsManagedSseEnabled"] is True
    # Lambda's advice for event source mappings; every receive inside the replay window, so a failing
    # event is dead-lettered rather than ignored as stale; kept until it is.
    assert queue["VisibilityTimeout"] >= 6 * timeout
    receives = consumer.max_receives
    assert (receives - 1) * queue["VisibilityTimeout"] < window
    assert queue["MessageRetentionPeriod"] > receives * queue["VisibilityTimeout"]


def test_only_the_reply_function_takes_the_warm_up_and_never_retries_it() -> None:
    warm_up = eventbridge_event(WARM_UP, {}, source=OWN_SOURCE)

    assert {rule.function for rule in rules_from_template() if rule.matches(warm_up)} == {"TranscriptCreatedFunction"}
    rule = resources("AWS::Serverless::Function")["TranscriptCreatedFunction"]["Properties"]["Events"]["WarmUp"]
    assert rule["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] == 0


def test_the_function_that_asks_for_the_warm_up_may_publish_it() -> None:
    [connector] = resources("AWS::Serverless::Connector").values()
    assert connector["Properties"]["Source"] == {"Id": "CallProgressingFunction"}
    assert connector["Properties"]["Destination"] == {"Id": "EventBus"}
    assert connector["Properties"]["Permissions"] == ["Write"]


def test_eventbridge_may_write_to_the_dead_letter_queue() -> None:
    [policy] = resources("AWS::SQS::QueuePolicy").values()
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"


def test_the_inbound_sms_rule_takes_an_inbound_message_created() -> None:
    assert routed(sample("message_created.inbound_sms.json")) == {"InboundSmsFunction"}


def test_the_inbound_sms_rule_rejects_our_own_outbound_message() -> None:
    assert (
        rule_of("InboundSmsFunction").matches(
            eventbridge_event("message_created", sample("message_created.inbound_sms.json", direction="outbound"))
        )
        is False
    )


def test_the_inbound_sms_rule_rejects_the_conversation_copy() -> None:
    conversation_copy = sample("conversation_message_created.inbound_sms.json")
    assert (
        rule_of("InboundSmsFunction").matches(eventbridge_event(conversation_copy["type"], conversation_copy)) is False
    )
    assert routed(conversation_copy) == set()


@pytest.mark.parametrize("name", ["transcript_created.json", "transcribe_speech_started.json"])
def test_the_transcript_rule_takes_the_callers_voice_only(name: str) -> None:
    assert routed(sample(name)) == {"TranscriptCreatedFunction"}
    assert routed(sample(name, direction="out")) == set()


@pytest.mark.parametrize(
    ("name", "function"),
    [("call_progressing.json", "CallProgressingFunction"), ("call_hangup.json", "CallHangupFunction")],
)
def test_call_events_reach_their_function(name: str, function: str) -> None:
    assert routed(sample(name)) == {function}


@pytest.mark.parametrize(
    "name", ["transcribe_speech_interim.json", "transcribe_speech_ended.json", "transcribe_created.json"]
)
def test_events_no_function_needs_reach_none(name: str) -> None:
    assert routed(sample(name)) == set()


def test_an_event_from_another_source_reaches_nothing() -> None:
    envelope = sample("call_hangup.json")
    event = eventbridge_event("call_hangup", envelope, source="someone.else")
    assert not any(rule.matches(event) for rule in rules_from_template())


def test_the_table_is_on_demand_with_ttl_and_point_in_time_recovery() -> None:
    properties = template()["Resources"]["Table"]["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert {k["AttributeName"]: k["KeyType"] for k in properties["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}


def test_no_secret_is_a_plain_parameter_or_environment_value() -> None:
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    for function in resources("AWS::Serverless::Function").values():
        variables = {**variables, **function["Properties"].get("Environment", {}).get("Variables", {})}
    plain_secrets = ("VOIPBIN_WEBHOOK_SECRET", "VOIPBIN_API_TOKEN", "VOIPBIN_ACCESS_KEY", "OPENAI_API_KEY")
    for plain in (*plain_secrets, "CHAT_SESSION_SECRET", "PHONE_ID_PEPPER"):
        assert variables.get(plain, "") == "", f"{plain} must stay empty in the template"
    for name in ("VOIPBIN_WEBHOOK_SECRET_NAME", "VOIPBIN_CREDENTIAL_NAME", "OPENAI_API_KEY_NAME"):
        assert "Ref" in variables[name]
        parameter = template()["Parameters"][variables[name]["Ref"]]
        assert parameter["Default"].startswith("/")


def ingress_policies() -> list[Any]:
    return list(resources("AWS::Serverless::Function")["IngressFunction"]["Properties"]["Policies"])


def test_the_ingress_may_only_publish_queue_and_read_its_secret() -> None:
    policies = ingress_policies()
    assert {"EventBridgePutEventsPolicy": {"EventBusName": {"Ref": "EventBus"}}} in policies
    assert not any("DynamoDB" in str(policy) for policy in policies)
    assert len(policies) == 3  # the bus, the voice events queue, the webhook secret


def test_the_webhook_url_is_an_output() -> None:
    assert template()["Outputs"]["WebhookUrl"]["Value"]["Fn::Sub"].endswith("/webhooks/${WebhookPathToken}")
    assert template()["Parameters"]["WebhookPathToken"]["Default"] == "voipbin"


def test_an_ingress_without_its_secret_raises_an_alarm() -> None:
    environment = template()["Globals"]["Function"]["Environment"]["Variables"]
    (alarm,) = (
        a["Properties"]
        for a in resources("AWS::CloudWatch::Alarm").values()
        if "Ingress" in a["Properties"].get("MetricName", "")
    )

    # The metric the ingress emits when it fails closed, in the namespace and service Powertools writes it to.
    assert alarm["MetricName"] == "IngressMisconfigured"
    assert alarm["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": environment["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_the_webhook_and_chat_routes_are_throttled_apart_and_chat_tighter() -> None:
    apis = resources("AWS::Serverless::HttpApi")
    webhook = apis["HttpApi"]["Properties"]["DefaultRouteSettings"]
    chat = apis["ChatApi"]["Properties"]["DefaultRouteSettings"]

    assert chat["ThrottlingRateLimit"] < webhook["ThrottlingRateLimit"]
    assert chat["ThrottlingBurstLimit"] < webhook["ThrottlingBurstLimit"]


def test_the_chat_page_is_on_the_chat_api_throttled_as_the_chat_and_an_output() -> None:
    events = resources("AWS::Serverless::Function")["WebChatFunction"]["Properties"]["Events"]

    # The chat API's DefaultRouteSettings throttle every route of it alike; no route sets its own.
    assert resources("AWS::Serverless::HttpApi")["ChatApi"]["Properties"]["DefaultRouteSettings"]
    for name, event in events.items():
        assert event["Properties"]["ApiId"] == {"Ref": "ChatApi"}, name
        assert "RouteSettings" not in event["Properties"], name
    assert {event["Properties"]["Path"] for event in events.values() if event["Properties"]["Method"] == "GET"} == {
        "/",
        "/widget.js",
        "/widget.css",
    }
    assert template()["Outputs"]["ChatPageUrl"]["Value"]["Fn::Sub"].endswith("/")


def test_secrets_manager_grants_name_exactly_one_secret() -> None:
    text = (REPO_ROOT / "template.yaml").read_text(encoding="utf-8")

    # Secrets Manager appends six random characters to a secret's name; "-*" would also grant "name-other".
    assert ":secret:${" in text
    assert "}-*" not in text
    assert text.count("}-??????") == text.count(":secret:${")


def test_every_function_logs_to_a_group_that_expires() -> None:
    groups = resources("AWS::Logs::LogGroup")
    for name, function in resources("AWS::Serverless::Function").items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    assert template()["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_no_function_may_scan_or_batch_the_table_and_the_chat_only_its_own_keys() -> None:
    for name in resources("AWS::Serverless::Function"):
        actions, leading_keys = granted_dynamodb(name)
        if name == "IngressFunction":
            assert not actions
            continue
        assert actions and not {"dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem"} & actions, name
        assert (leading_keys is not None) == (name == "WebChatFunction"), name
    assert "DynamoDBCrudPolicy" not in (REPO_ROOT / "template.yaml").read_text(encoding="utf-8")


def test_the_chat_allows_no_other_origin_by_default_and_never_every_origin() -> None:
    api = resources("AWS::Serverless::HttpApi")["ChatApi"]
    (rule,) = template()["Rules"]["ChatOriginsAreExplicit"]["Assertions"]

    assert template()["Parameters"]["ChatAllowedOrigins"]["Default"] == ""
    assert api["Properties"]["CorsConfiguration"]["AllowOrigins"] == {
        "Fn::If": ["HasChatOrigins", {"Ref": "ChatAllowedOrigins"}, {"Ref": "AWS::NoValue"}]
    }
    assert rule["Assert"] == {"Fn::Not": [{"Fn::Contains": [{"Ref": "ChatAllowedOrigins"}, "*"]}]}


def test_only_the_web_chat_reads_its_generated_session_key() -> None:
    key = resources("AWS::SecretsManager::Secret")["ChatSessionKey"]["Properties"]
    functions = resources("AWS::Serverless::Function")
    chat = functions["WebChatFunction"]["Properties"]

    assert key["GenerateSecretString"]["PasswordLength"] >= 32
    assert chat["Environment"]["Variables"]["CHAT_SESSION_SECRET_NAME"] == {"Ref": "ChatSessionKey"}
    readers = [
        name for name, function in functions.items() if "ChatSessionKey" in str(function["Properties"]["Policies"])
    ]
    assert readers == ["WebChatFunction"]


def test_the_web_chat_has_a_reserved_and_capped_concurrency() -> None:
    chat = resources("AWS::Serverless::Function")["WebChatFunction"]["Properties"]

    assert chat["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReservesChatConcurrency", {"Ref": "WebChatReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert template()["Parameters"]["WebChatReservedConcurrency"]["Default"] > 0


SECRETS = (
    "WebhookSecretName",
    "VoipbinCredentialName",
    "OpenAIApiKeyName",
    "AgentConfigParameter",
    "PhoneIdPepper",
    "ChatSessionKey",
)


def test_each_function_may_read_only_the_secrets_it_reads() -> None:
    granted = {
        name: {secret for secret in SECRETS if secret in str(function["Properties"]["Policies"])}
        for name, function in resources("AWS::Serverless::Function").items()
    }

    # Who reads what: config.py's readers, called from each function's use cases.
    assert granted == {
        "IngressFunction": {"WebhookSecretName"},
        "CallProgressingFunction": {"VoipbinCredentialName", "AgentConfigParameter", "PhoneIdPepper"},
        "TranscriptCreatedFunction": {"VoipbinCredentialName", "OpenAIApiKeyName", "AgentConfigParameter"},
        "CallHangupFunction": {"VoipbinCredentialName", "OpenAIApiKeyName", "AgentConfigParameter", "PhoneIdPepper"},
        "InboundSmsFunction": {"VoipbinCredentialName", "OpenAIApiKeyName", "AgentConfigParameter", "PhoneIdPepper"},
        "ConversationMessageFunction": {
            "VoipbinCredentialName",
            "OpenAIApiKeyName",
            "AgentConfigParameter",
            "PhoneIdPepper",
        },
        "WebChatFunction": {"OpenAIApiKeyName", "AgentConfigParameter", "ChatSessionKey"},
        "DelayedActionFunction": {"VoipbinCredentialName", "OpenAIApiKeyName", "AgentConfigParameter", "PhoneIdPepper"},
    }


def test_only_the_functions_that_leave_work_for_later_may_queue_it() -> None:
    senders = {
        name
        for name, function in resources("AWS::Serverless::Function").items()
        if "DelayedActionsQueue" in str(function["Properties"]["Policies"])
    }
    queue_urls = {
        name
        for name, function in resources("AWS::Serverless::Function").items()
        if function["Properties"].get("Environment", {}).get("Variables", {}).get("DELAYED_ACTIONS_QUEUE_URL")
    }

    assert (
        senders
        == queue_urls
        == {
            "CallProgressingFunction",
            "TranscriptCreatedFunction",
            "InboundSmsFunction",
            "ConversationMessageFunction",
            "DelayedActionFunction",
        }
    )
    queue = resources("AWS::SQS::Queue")["DelayedActionsQueue"]
    assert queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    (consumer,) = resources("AWS::Serverless::Function")["DelayedActionFunction"]["Properties"]["Events"].values()
    assert consumer["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_only_the_ingress_and_the_functions_that_publish_summaries_or_warm_ups_may_put_events() -> None:
    put_events = {"EventBridgePutEventsPolicy": {"EventBusName": {"Ref": "EventBus"}}}
    functions = resources("AWS::Serverless::Function")
    publishers = {name for name, function in functions.items() if put_events in function["Properties"]["Policies"]}
    bus_names = {
        name
        for name, function in functions.items()
        if function["Properties"].get("Environment", {}).get("Variables", {}).get("EVENT_BUS_NAME")
        == {"Ref": "EventBus"}
    }
    (connector,) = resources("AWS::Serverless::Connector").values()

    # The ingress (webhooks), call_hangup (call_summarized) and delayed_action (conversation_summarized);
    # call_progressing's warm-up is granted by its connector, which writes to this bus and nothing else.
    assert publishers == {"IngressFunction", "CallHangupFunction", "DelayedActionFunction"}
    assert bus_names == publishers | {"CallProgressingFunction"}
    assert connector["Properties"]["Source"] == {"Id": "CallProgressingFunction"}
    assert connector["Properties"]["Destination"] == {"Id": "EventBus"}
    assert connector["Properties"]["Permissions"] == ["Write"]


def test_the_idle_check_reads_the_same_idle_time_as_the_functions_that_answer_texts() -> None:
    functions = resources("AWS::Serverless::Function")
    for name in ("InboundSmsFunction", "ConversationMessageFunction", "DelayedActionFunction"):
        variables = functions[name]["Properties"]["Environment"]["Variables"]
        assert variables["CONVERSATION_IDLE_HOURS"] == {"Ref": "ConversationIdleHours"}, name


def test_no_rule_of_the_stack_takes_its_own_summaries_they_are_the_businesss() -> None:
    for detail_type in (CALL_SUMMARIZED, CONVERSATION_SUMMARIZED):
        event = eventbridge_event(detail_type, {"conversation_id": "call:1"}, source=OWN_SOURCE)
        assert not any(rule.matches(event) for rule in rules_from_template()), detail_type


def test_the_generated_secrets_are_named_to_the_functions_that_read_them() -> None:
    for name, function in resources("AWS::Serverless::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        policies = str(function["Properties"]["Policies"])
        assert ("PhoneIdPepper" in policies) == (variables.get("PHONE_ID_PEPPER_NAME") == {"Ref": "PhoneIdPepper"}), (
            name
        )
        assert ("ChatSessionKey" in policies) == ("CHAT_SESSION_SECRET_NAME" in variables), name


def test_rejected_webhooks_raise_an_alarm_on_the_webhook_apis_own_4xx() -> None:
    apis = resources("AWS::Serverless::HttpApi")
    functions = resources("AWS::Serverless::Function")
    alarm = resources("AWS::CloudWatch::Alarm")["WebhookRejectedAlarm"]["Properties"]

    # The webhook and the chat are apart, so the webhook API's 4xx (429 throttling included) are its own.
    assert functions["IngressFunction"]["Properties"]["Events"]["Webhook"]["Properties"]["ApiId"] == {"Ref": "HttpApi"}
    assert functions["WebChatFunction"]["Properties"]["Events"]["Chat"]["Properties"]["ApiId"] == {"Ref": "ChatApi"}
    assert set(apis) == {"HttpApi", "ChatApi"}
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "4xx")
    assert alarm["Dimensions"] == [
        {"Name": "ApiId", "Value": {"Ref": "HttpApi"}},
        {"Name": "Stage", "Value": "$default"},
    ]
    assert alarm["Threshold"] == {"Ref": "WebhookRejectedAlarmThreshold"}


def test_every_voipbin_event_type_is_either_consumed_by_a_rule_or_the_queue_or_dropped_at_the_ingress() -> None:
    from typing import get_args

    from voipbin_ai.config import DEFAULT_DROPPED_EVENT_TYPES
    from voipbin_ai.models import events

    known = {
        name
        for alias in (
            events.CallEventType,
            events.TranscriptEventType,
            events.TranscribeSpeechEventType,
            events.TranscribeEventType,
            events.MessageEventType,
            events.ConversationMessageEventType,
        )
        for name in get_args(alias)
    }
    consumed = queued_types() | {
        detail_type
        for rule in rules_from_template()
        if rule.pattern.get("source") == [EVENT_SOURCE]
        for detail_type in rule.pattern["detail-type"]
    }

    # The template's rules and queue say what the functions take; the ingress drops everything else it knows of.
    assert consumed <= known
    assert consumed.isdisjoint(DEFAULT_DROPPED_EVENT_TYPES)
    assert known - consumed <= DEFAULT_DROPPED_EVENT_TYPES


# What AWS publishes and the alarms and the dashboard read: metric names, and the dimensions each has
# (the CloudWatch metrics pages of Lambda, API Gateway's HTTP APIs and SQS).
AWS_METRICS = {
    "AWS/Lambda": ({"Errors", "Throttles", "Duration", "Invocations"}, ["FunctionName"]),
    "AWS/ApiGateway": ({"4xx", "5xx", "Count", "Latency"}, ["ApiId", "Stage"]),
    "AWS/SQS": ({"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}, ["QueueName"]),
}


def powertools_metric_identity() -> tuple[str, list[dict[str, str]]]:
    """The namespace and dimensions Powertools gives every metric the code emits (template Globals)."""
    environment = template()["Globals"]["Function"]["Environment"]["Variables"]
    return environment["POWERTOOLS_METRICS_NAMESPACE"], [
        {"Name": "service", "Value": environment["POWERTOOLS_SERVICE_NAME"]}
    ]


def dashboard_metrics() -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(namespace, metric, dimensions) of every metric the dashboard graphs; ${Ref} reads as "<Ref>"."""
    (dashboard,) = resources("AWS::CloudWatch::Dashboard").values()
    numbers = {name for name, parameter in template()["Parameters"].items() if parameter["Type"] == "Number"}
    body = re.sub(
        r"\$\{([^}]+)\}",
        lambda ref: "0" if ref.group(1) in numbers else f"<{ref.group(1)}>",
        dashboard["Properties"]["DashboardBody"]["Fn::Sub"],
    )
    graphed = []
    for widget in json.loads(body)["widgets"]:
        for entry in widget["properties"].get("metrics", []):
            if isinstance(entry[0], dict):
                continue  # a math expression over the entries below it
            namespace, name, *rest = entry
            pairs = rest[:-1] if rest and isinstance(rest[-1], dict) else rest
            dimensions = [{"Name": key, "Value": value} for key, value in zip(pairs[::2], pairs[1::2], strict=True)]
            graphed.append((namespace, name, dimensions))
    return graphed


def alarm_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(namespace, metric, dimensions) of the metric an alarm watches, or of each one its math reads."""
    properties = alarm["Properties"]
    if "MetricName" in properties:
        return [(properties["Namespace"], properties["MetricName"], properties["Dimensions"])]
    stats = [query["MetricStat"]["Metric"] for query in properties["Metrics"] if "MetricStat" in query]
    return [(metric["Namespace"], metric["MetricName"], metric["Dimensions"]) for metric in stats]


def assert_published(namespace: str, name: str, dimensions: list[dict[str, Any]]) -> None:
    """The metric is one the code emits (observability.Metric, as Powertools writes it) or one AWS publishes."""
    own_namespace, own_dimensions = powertools_metric_identity()
    if namespace == own_namespace:
        assert name in set(Metric), f"{name} is not emitted by the code (voipbin_ai/observability.py Metric)"
        assert dimensions == own_dimensions, name
        return
    names, dimension_names = AWS_METRICS[namespace]
    assert name in names, f"{namespace} {name}"
    assert [dimension["Name"] for dimension in dimensions] == dimension_names, f"{namespace} {name}"


def test_the_code_emits_metrics_only_through_the_one_list() -> None:
    # Metric is then every metric the code emits: emit_metric takes nothing else (mypy), and it alone adds them.
    calls = {
        path.relative_to(REPO_ROOT).as_posix()
        for folder in ("shared", "functions")
        for path in (REPO_ROOT / folder).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_metric"
    }

    assert calls == {"shared/voipbin_ai/observability.py"}


def test_every_metric_the_code_emits_is_on_the_dashboard_and_nothing_it_does_not() -> None:
    graphed = dashboard_metrics()
    own_namespace, _ = powertools_metric_identity()

    assert {name for namespace, name, _ in graphed if namespace == own_namespace} == set(Metric)
    for metric in graphed:
        assert_published(*metric)


def test_the_dashboard_is_named_after_the_stack_and_shows_every_alarm() -> None:
    (dashboard,) = resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]

    assert dashboard["Properties"]["DashboardName"] == {"Ref": "AWS::StackName"}
    assert set(re.findall(r"\$\{(\w+)\.Arn\}", body)) == set(resources("AWS::CloudWatch::Alarm"))


def test_the_dashboards_aws_metrics_name_this_stacks_functions_apis_and_dead_letter_queue() -> None:
    kinds = {
        "FunctionName": "AWS::Serverless::Function",
        "ApiId": "AWS::Serverless::HttpApi",
        "QueueName": "AWS::SQS::Queue",
    }
    graphed = {
        (dimension["Name"], dimension["Value"])
        for namespace, _, dimensions in dashboard_metrics()
        if namespace.startswith("AWS/")
        for dimension in dimensions
    }

    for name, kind in kinds.items():
        referenced = {value.strip("<>").removesuffix(".QueueName") for key, value in graphed if key == name}
        assert referenced and referenced <= set(resources(kind)), name
    assert {value for key, value in graphed if key == "FunctionName"} == {
        f"<{function}>" for function in resources("AWS::Serverless::Function")
    }


@pytest.mark.parametrize("alarm", sorted(template_resources("AWS::CloudWatch::Alarm")))
def test_every_alarm_watches_a_metric_the_code_emits_or_aws_publishes_and_tells_the_alarm_topic(alarm: str) -> None:
    properties = resources("AWS::CloudWatch::Alarm")[alarm]["Properties"]
    notify = {"Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]}

    for metric in alarm_metrics(resources("AWS::CloudWatch::Alarm")[alarm]):
        assert_published(*metric)
    assert properties["AlarmActions"] == properties["OKActions"] == notify
    assert properties["TreatMissingData"] in {"notBreaching", "ignore"}


def test_alarms_are_told_by_mail_only_when_an_address_is_given() -> None:
    topic = template()["Resources"]["AlarmTopic"]
    (subscription,) = resources("AWS::SNS::Subscription").values()

    assert template()["Parameters"]["AlarmEmail"]["Default"] == ""
    assert topic["Condition"] == subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert subscription["Properties"]["Protocol"] == "email"


def test_the_fallback_rate_is_fallback_replies_over_voice_turns() -> None:
    alarm = resources("AWS::CloudWatch::Alarm")["FallbackRateAlarm"]["Properties"]
    (returned,) = [query for query in alarm["Metrics"] if query["ReturnData"]]
    expression = returned["Expression"]

    names = {
        query["Id"]: query["MetricStat"]["Metric"]["MetricName"] for query in alarm["Metrics"] if "MetricStat" in query
    }
    assert names == {"fallbacks": Metric.FALLBACK_REPLIES, "turns": Metric.VOICE_TURNS}
    assert expression.startswith("100 *") and expression.endswith("/ turns") and "fallbacks" in expression
    assert alarm["Threshold"] == {"Ref": "FallbackRateAlarmThreshold"}


@pytest.mark.parametrize("alarm", ["FunctionErrorsAlarm", "FunctionThrottlesAlarm"])
def test_the_function_alarms_read_every_function(alarm: str) -> None:
    metrics = alarm_metrics(resources("AWS::CloudWatch::Alarm")[alarm])

    assert {dimensions[0]["Value"]["Ref"] for _, _, dimensions in metrics} == set(
        resources("AWS::Serverless::Function")
    )
    assert len({name for _, name, _ in metrics}) == 1


def test_each_http_api_logs_its_access_without_paths_queries_bodies_or_addresses() -> None:
    groups = resources("AWS::Logs::LogGroup")
    for name, api in resources("AWS::Serverless::HttpApi").items():
        settings = api["Properties"]["AccessLogSettings"]
        (group,) = settings["DestinationArn"]["Fn::GetAtt"][:1]
        variables = set(re.findall(r"\$context\.[\w.]+", settings["Format"]))

        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert json.loads(re.sub(r"\$context\.[\w.]+", "0", settings["Format"])), name  # one JSON object a line
        assert {"$context.requestId", "$context.routeKey", "$context.status"} <= variables, name
        # The path carries the webhook's token; sources and agents are personal data; $input/$request would
        # be the body or the query string.
        assert not {"$context.path", "$context.identity.sourceIp", "$context.identity.userAgent"} & variables
        assert "$input" not in settings["Format"] and "$request" not in settings["Format"]


def test_only_the_functions_that_run_the_tools_may_retrieve_and_only_from_the_configured_knowledge_base() -> None:
    """search_knowledge's Bedrock switch: bedrock:Retrieve on KnowledgeBaseArn, and nothing when it is empty."""
    grants = {
        name: [policy for policy in function["Properties"]["Policies"] if "bedrock" in json.dumps(policy)]
        for name, function in resources("AWS::Serverless::Function").items()
    }
    only_when_given = {
        "Fn::If": [
            "HasKnowledgeBase",
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "bedrock:Retrieve", "Resource": {"Ref": "KnowledgeBaseArn"}}
                ],
            },
            {"Ref": "AWS::NoValue"},
        ]
    }

    assert {name for name, granted in grants.items() if granted} == {
        "TranscriptCreatedFunction",
        "InboundSmsFunction",
        "ConversationMessageFunction",
        "DelayedActionFunction",
        "WebChatFunction",
    }
    assert all(granted in ([], [only_when_given]) for granted in grants.values())
    assert template()["Conditions"]["HasKnowledgeBase"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "KnowledgeBaseArn"}, ""]}]
    }
    assert template()["Parameters"]["KnowledgeBaseArn"]["Default"] == ""
