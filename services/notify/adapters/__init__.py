"""Adapters to MongoDB, S3, SMTP and other services."""
