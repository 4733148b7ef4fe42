"""Upload a folder of books to the ingest API, with a progress bar and a summary.

    echo "$SECRET" | python -m reader.upload ./books --reader http://reader.example --lending http://lending.example \\
        --publisher nxb-tre [--metadata books.json]

The publisher's secret comes on standard input (never as an argument). ``--metadata`` may name a JSON file
mapping file names to the metadata the ingest API accepts (title, authors, isbn, terms...). Every EPUB and PDF
in the folder is sent; the summary says which were accepted, flagged (accepted with warnings) or refused, and
why. The exit status is 0 when nothing was refused, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

SUFFIXES = {".epub": "application/epub+zip", ".pdf": "application/pdf"}


@dataclass(frozen=True)
class Outcome:
    file: str
    status: str  # accepted, flagged, refused
    detail: str
    publication_id: str = ""


async def publisher_token(lending: str, publisher: str, secret: str, http: httpx.AsyncClient) -> str:
    response = await http.post(f"{lending}/v1/auth/publisher-token", json={"publisher_id": publisher, "secret": secret})
    if response.status_code != 200:
        raise SystemExit(f"sign-in refused: {response.json().get('detail', response.text)}")
    return str(response.json()["access_token"])


async def upload_one(http: httpx.AsyncClient, reader: str, token: str, path: Path, metadata: dict[str, Any]) -> Outcome:
    with path.open("rb") as book:
        response = await http.post(
            f"{reader}/v1/publications",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (path.name, book, SUFFIXES[path.suffix.lower()])},
            data={"metadata": json.dumps(metadata, ensure_ascii=False)},
        )
    body = response.json() if response.headers.get("content-type", "").endswith("json") else {}
    if response.status_code in (200, 201):
        warnings = body.get("warnings", [])
        detail = (
            f"{len(warnings)} warning(s): {warnings[0]}"
            if warnings
            else ("updated" if response.status_code == 200 else "new")
        )
        return Outcome(path.name, body.get("status", "accepted"), detail, body.get("id", ""))
    return Outcome(path.name, "refused", body.get("detail") or body.get("title") or response.text[:200])


def books_in(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if path.suffix.lower() in SUFFIXES and path.is_file())


async def upload_folder(
    books: list[Path], reader: str, lending: str, publisher: str, secret: str, metadata: dict[str, dict[str, Any]],
    console: Console,
) -> list[Outcome]:  # fmt: skip
    outcomes: list[Outcome] = []
    async with httpx.AsyncClient(timeout=httpx.Timeout(300, connect=10)) as http:
        token = await publisher_token(lending.rstrip("/"), publisher, secret, http)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("uploading", total=len(books))
            for path in books:
                progress.update(task, description=path.name[:40])
                try:
                    outcome = await upload_one(http, reader.rstrip("/"), token, path, metadata.get(path.name, {}))
                except httpx.HTTPError as error:
                    outcome = Outcome(path.name, "refused", f"could not send it: {error}")
                outcomes.append(outcome)
                progress.advance(task)
    return outcomes


def summary(outcomes: list[Outcome], console: Console) -> None:
    table = Table(title="Ingest summary")
    for column in ("file", "status", "publication", "detail"):
        table.add_column(column)
    colour = {"accepted": "green", "flagged": "yellow", "refused": "red"}
    for outcome in outcomes:
        table.add_row(
            outcome.file, f"[{colour[outcome.status]}]{outcome.status}[/]", outcome.publication_id, outcome.detail
        )
    console.print(table)
    counts = {status: sum(o.status == status for o in outcomes) for status in colour}
    console.print(f"accepted {counts['accepted']}, flagged {counts['flagged']}, refused {counts['refused']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--reader", required=True, help="the reader service's base URL")
    parser.add_argument("--lending", required=True, help="the lending service's base URL (publisher sign-in)")
    parser.add_argument("--publisher", required=True, help="your publisher id")
    parser.add_argument("--metadata", type=Path, help="JSON: file name -> metadata")
    args = parser.parse_args()
    secret = sys.stdin.readline().strip()
    metadata = json.loads(args.metadata.read_text(encoding="utf-8")) if args.metadata else {}
    console = Console()
    outcomes = asyncio.run(
        upload_folder(books_in(args.folder), args.reader, args.lending, args.publisher, secret, metadata, console)
    )
    summary(outcomes, console)
    return 1 if any(outcome.status == "refused" for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
