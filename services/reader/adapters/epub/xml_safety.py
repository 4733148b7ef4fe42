"""Every XML document of an EPUB parsed safely: no entity declarations, no external references, bounded."""

from __future__ import annotations

from xml.parsers import expat

from lxml import etree

XML_SUFFIXES = (".xml", ".opf", ".ncx", ".xhtml", ".html", ".htm", ".svg", ".smil", ".xht")
XML_CHUNK = 64 * 1024

PARSER = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class _Refused(Exception):
    pass


class SafeXml:
    """Expat fed chunk by chunk, refusing what makes XML unsafe to parse.

    Internal entities with plain replacement text are allowed (real books declare typographic quotes that way);
    external and parameter entities, and entities that refer to other entities (the "billion laughs" shape),
    are refused. Expat never fetches anything: external references are refused before they could be. After the
    first syntax error the rest is ignored (a binary entry fails at its first bytes).
    """

    def __init__(self) -> None:
        self._parser = expat.ParserCreate()
        self._parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self._parser.EntityDeclHandler = self._declared
        self._parser.ExternalEntityRefHandler = self._external
        self.problem: str | None = None
        self.parse_error: str | None = None

    @staticmethod
    def _declared(name: str, is_parameter: int, value: str | None, *_: object) -> None:
        if is_parameter:
            raise _Refused(f"declares the parameter entity %{name}; (not accepted)")
        if value is None:
            raise _Refused(f"declares the external entity &{name}; (not accepted)")
        if "&" in value or "%" in value:
            raise _Refused(f"the entity &{name}; refers to other entities (entity expansion is not accepted)")

    @staticmethod
    def _external(*_: object) -> int:
        raise _Refused("refers to an external entity (not accepted)")

    def feed(self, data: bytes, final: bool = False) -> None:
        if self.problem is not None or self.parse_error is not None:
            return
        try:
            self._parser.Parse(data, final)
        except _Refused as refused:
            self.problem = str(refused)
        except expat.ExpatError as error:
            self.parse_error = str(error)

    def close(self) -> tuple[str | None, str | None]:
        """(why the document is unsafe, why it does not parse): each None when it is not so."""
        self.feed(b"", final=True)
        return self.problem, self.parse_error


def xml_safety(data: bytes) -> tuple[str | None, str | None]:
    """(why the document is unsafe, why it does not parse) for one whole document: see :class:`SafeXml`."""
    checker = SafeXml()
    checker.feed(data)
    return checker.close()
