"""Thin edges: FastAPI routes, the gRPC servicer and Kafka consumer registrations."""
