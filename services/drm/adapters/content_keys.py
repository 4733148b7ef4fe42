"""Content keys under envelope encryption: one per publication, stored only wrapped by a master key.

Each wrapped key records which master key wrapped it, so a new master key can be introduced (first in the
settings) and :meth:`ContentKeys.rewrap` moves every content key under it — the books themselves are never
re-encrypted. AES-256-GCM, the publication id as associated data (a wrapped key cannot be moved to another book).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Document = dict[str, Any]


@dataclass(frozen=True)
class MasterKey:
    id: str
    key: bytes

    @classmethod
    def from_file(cls, path: str) -> MasterKey:
        key = base64.b64decode(Path(path).read_text(encoding="ascii").strip(), validate=True)
        if len(key) != 32:
            raise ValueError(f"{path}: a master key is 32 bytes (base64)")
        return cls(hashlib.sha256(key).hexdigest()[:16], key)


class ContentKeys:
    def __init__(self, collection: AsyncCollection[Document], master_keys: list[MasterKey]) -> None:
        if not master_keys:
            raise ValueError("at least one master key is needed")
        self.collection = collection
        self.current = master_keys[0]
        self.masters = {master.id: master for master in master_keys}

    def _wrap(self, publication_id: str, key: bytes) -> Document:
        nonce = os.urandom(12)
        sealed = AESGCM(self.current.key).encrypt(nonce, key, publication_id.encode())
        return {"master_key_id": self.current.id, "nonce": nonce, "wrapped": sealed}

    def _unwrap(self, document: Document) -> bytes:
        master = self.masters.get(document["master_key_id"])
        if master is None:
            raise LookupError(f"master key {document['master_key_id']} is no longer configured")
        return AESGCM(master.key).decrypt(
            bytes(document["nonce"]), bytes(document["wrapped"]), document["_id"].encode()
        )

    async def get_or_create(self, publication_id: str, session: AsyncClientSession | None = None) -> tuple[str, bytes]:
        """(key id, content key) of a publication; generated once, at its first protection."""
        document = await self.collection.find_one({"_id": publication_id}, session=session)
        if document is None:
            key = os.urandom(32)
            document = {
                "_id": publication_id,
                "key_id": os.urandom(8).hex(),
                "created_at": datetime.now(UTC),
                **self._wrap(publication_id, key),
            }
            try:
                await self.collection.insert_one(document, session=session)
            except DuplicateKeyError:
                document = await self.collection.find_one({"_id": publication_id}, session=session)
                assert document is not None
        return document["key_id"], self._unwrap(document)

    async def store(self, publication_id: str, key: bytes) -> None:
        """Keep a content key made elsewhere (a book a publisher delivers already protected, with its key)."""
        if len(key) != 32:
            raise ValueError("a content key is 32 bytes")
        document = {
            "_id": publication_id,
            "key_id": os.urandom(8).hex(),
            "created_at": datetime.now(UTC),
            **self._wrap(publication_id, key),
        }
        await self.collection.replace_one({"_id": publication_id}, document, upsert=True)

    async def get(self, publication_id: str) -> bytes | None:
        document = await self.collection.find_one({"_id": publication_id})
        return self._unwrap(document) if document else None

    async def key_id(self, publication_id: str) -> str | None:
        document = await self.collection.find_one({"_id": publication_id}, {"key_id": 1})
        return None if document is None else str(document.get("key_id", ""))

    async def rewrap(self) -> int:
        """Move every content key under the current master key; return how many moved."""
        moved = 0
        async for document in self.collection.find({"master_key_id": {"$ne": self.current.id}}):
            rewrapped = self._wrap(document["_id"], self._unwrap(document))
            result = await self.collection.update_one(
                {"_id": document["_id"], "master_key_id": document["master_key_id"]}, {"$set": rewrapped}
            )
            moved += result.modified_count
        return moved
