"""Validate OAI-PMH responses against the official schemas, offline (tests/data/oai-pmh, see its README).

The OAI-PMH schema demands (``processContents="strict"``) that record metadata be valid too, so oai_dc (with Simple
Dublin Core and the xml: namespace) and MARCXML are loaded beside it; their official URLs resolve to local copies.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

SCHEMAS = Path(__file__).resolve().parent / "data" / "oai-pmh"
LOCAL_COPIES = {
    "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd": "OAI-PMH.xsd",
    "http://www.openarchives.org/OAI/2.0/oai_dc.xsd": "oai_dc.xsd",
    "http://dublincore.org/schemas/xmls/simpledc20021212.xsd": "simpledc20021212.xsd",
    "http://www.w3.org/2001/03/xml.xsd": "xml.xsd",
    "http://www.w3.org/2001/xml.xsd": "xml.xsd",
    "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd": "MARC21slim.xsd",
}
DRIVER = b"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:import namespace="http://www.openarchives.org/OAI/2.0/" schemaLocation="http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"/>
  <xs:import namespace="http://www.openarchives.org/OAI/2.0/oai_dc/" schemaLocation="http://www.openarchives.org/OAI/2.0/oai_dc.xsd"/>
  <xs:import namespace="http://www.loc.gov/MARC21/slim" schemaLocation="http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"/>
</xs:schema>"""


class _LocalCopies(etree.Resolver):
    def resolve(self, system_url: str | None, public_id: str | None, context: Any) -> Any:
        name = LOCAL_COPIES.get(system_url or "")
        if name is None:
            raise AssertionError(f"schema {system_url} has no local copy: the validation would go online")
        return self.resolve_filename(str(SCHEMAS / name), context)


@cache
def oai_pmh_schema() -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_LocalCopies())
    return etree.XMLSchema(etree.fromstring(DRIVER, parser))


def assert_valid(document: bytes) -> etree._Element:
    """The parsed response; fails with the schema's complaints when it is not valid OAI-PMH 2.0."""
    root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True))
    schema = oai_pmh_schema()
    if not schema.validate(root):
        raise AssertionError("not valid OAI-PMH: " + "; ".join(str(error) for error in schema.error_log))
    return root
