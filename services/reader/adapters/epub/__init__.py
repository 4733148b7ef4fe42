"""Opening an uploaded EPUB safely and reading its package into :class:`EpubPackage`.

Order matters: the zip directory is checked first (``archive``: bombs, traversal, links), then every XML
document is parsed safely (``xml_safety``: no entity declarations, no external references), and only then does
ebooklib read the package (``package``, with the navigation documents read by ``navigation``).
"""

from reader.adapters.epub.archive import DAMAGED_ZIP, check_archive, drm_protection_of, zip_entries
from reader.adapters.epub.package import read_epub

__all__ = ["DAMAGED_ZIP", "check_archive", "drm_protection_of", "read_epub", "zip_entries"]
