"""The DynamoDB Local fixtures: AWS's implementation, tables shaped like template.yaml's, one per test."""

import boto3
import pytest

from local.dynamodb_local import table_definition, ttl_attribute
from tests.fakes.dynamodb_local import DynamoDBTable

pytestmark = pytest.mark.integration


def test_table_has_the_template_key_schema(dynamodb_table: DynamoDBTable) -> None:
    # When
    described = dynamodb_table.client.describe_table(TableName=dynamodb_table.name)["Table"]

    # Then
    expected = table_definition()
    assert described["KeySchema"] == expected["KeySchema"]
    assert sorted(described["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    assert described["BillingModeSummary"]["BillingMode"] == expected["BillingMode"]
    assert {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])} == {
        index["IndexName"] for index in expected.get("GlobalSecondaryIndexes", [])
    }


def test_ttl_is_enabled_on_the_template_attribute(dynamodb_table: DynamoDBTable) -> None:
    # When
    ttl = dynamodb_table.client.describe_time_to_live(TableName=dynamodb_table.name)["TimeToLiveDescription"]

    # Then
    assert ttl == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": ttl_attribute(),
    }


def test_a_conditional_put_fails_the_second_time(dynamodb_table: DynamoDBTable) -> None:
    # Given
    client = dynamodb_table.client

    def put_if_absent() -> None:
        client.put_item(
            TableName=dynamodb_table.name,
            Item={"pk": {"S": "call#1"}, "sk": {"S": "reply#1"}},
            ConditionExpression="attribute_not_exists(pk)",
        )

    put_if_absent()

    # When / Then
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        put_if_absent()


def test_the_environment_points_the_code_under_test_at_the_table(dynamodb_table: DynamoDBTable) -> None:
    # Given: a client built as the code under test builds it, from the environment and its credentials alone
    client = boto3.client("dynamodb")
    dynamodb_table.client.put_item(TableName=dynamodb_table.name, Item={"pk": {"S": "p"}, "sk": {"S": "s"}})

    # When
    item = client.get_item(TableName=dynamodb_table.name, Key={"pk": {"S": "p"}, "sk": {"S": "s"}})

    # Then
    assert item["Item"] == {"pk": {"S": "p"}, "sk": {"S": "s"}}


@pytest.mark.parametrize("run", ["first", "second"])
def test_each_test_has_its_own_empty_table(dynamodb_table: DynamoDBTable, run: str) -> None:
    # Given: whatever an earlier test left behind
    client = dynamodb_table.client

    # Then: only this test's table exists, and it is empty; the other run writes the same key
    assert client.list_tables()["TableNames"] == [dynamodb_table.name]
    assert client.scan(TableName=dynamodb_table.name)["Items"] == []
    client.put_item(TableName=dynamodb_table.name, Item={"pk": {"S": "shared"}, "sk": {"S": "key"}, "run": {"S": run}})
