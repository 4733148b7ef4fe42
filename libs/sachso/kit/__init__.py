"""Cross-cutting plumbing shared by the four services.

Nothing domain-specific lives here: settings base, CloudEvents envelope, transactional outbox and relay,
idempotent consumers with dead-lettering, client factories (MongoDB, Kafka, S3), JWT issuing and
verification, problem details, logging, metrics, health and the process runtime.
"""
