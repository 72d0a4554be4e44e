"""Where conversations and idempotency records live: DynamoDB, behind store/dynamodb.py. Empty on purpose."""
