"""MongoDB repositories and clients of other services."""
