"""Lending: the library network, patrons and reader cards, catalogue, licence pools, loans and holds."""
