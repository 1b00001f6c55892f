"""DynamoDB persistence: execution items with conditional writes, replica liveness, table definitions."""
