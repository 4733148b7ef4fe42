"""The limit for resource GETs: a bare ASGI app on the same uvicorn, configured as the services' runtime runs it,
answering every request with the same bytes from memory (a single ``Range: bytes=a-b`` as 206).

``python bench/_bare_asgi.py PORT FILE MEDIA_TYPE [HEADERS_JSON]`` serves until SIGTERM; HEADERS_JSON, a list of
[name, value] pairs, are sent with every answer too (the reader's own: what uvicorn's per-header work costs).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import uvicorn

RANGE = re.compile(rb"bytes=(\d+)-(\d+)")


def app_for(body: bytes, media_type: str, extra: list[tuple[bytes, bytes]] | None = None) -> Any:
    extra = extra or []
    full = [*extra, (b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        for name, value in scope["headers"]:
            if name == b"range" and (match := RANGE.fullmatch(value)):
                first, last = int(match[1]), min(int(match[2]), len(body) - 1)
                part = body[first : last + 1]
                headers = [
                    *extra,
                    (b"content-type", media_type.encode()),
                    (b"content-length", str(len(part)).encode()),
                    (b"content-range", f"bytes {first}-{last}/{len(body)}".encode()),
                ]
                await send({"type": "http.response.start", "status": 206, "headers": headers})
                await send({"type": "http.response.body", "body": part})
                return
        await send({"type": "http.response.start", "status": 200, "headers": full})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    port, path, media_type = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    extra = [(name.encode(), value.encode()) for name, value in json.loads(sys.argv[4])] if len(sys.argv) > 4 else []
    config = uvicorn.Config(
        app_for(path.read_bytes(), media_type, extra),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
