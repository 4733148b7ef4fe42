"""Lending's REST API, one router per resource."""
