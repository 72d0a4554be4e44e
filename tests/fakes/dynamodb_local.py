"""DynamoDB Local for the test suite (being written)."""
