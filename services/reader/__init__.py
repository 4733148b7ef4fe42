"""Reader: publisher ingest, Readium Web Publication Manifests, resource streaming, PDF pages, reading sync."""
