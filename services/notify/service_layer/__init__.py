"""Use cases: load aggregates through adapters, apply domain rules, commit with their events (outbox)."""
