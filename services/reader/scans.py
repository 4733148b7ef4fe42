"""Upload a folder of scans as one local document, resumably, with a progress bar.

    echo "$PASSWORD" | python -m reader.scans ./scans --reader http://reader.example \\
        --lending http://lending.example --user lan [--title "Địa chí Đắk Lắk"]

The staff password comes on standard input. The folder's page images (TIFF, JPEG, PNG, JPEG 2000) are packed
into a zip in natural order of their names (``trang-2`` before ``trang-10``), or a single PDF in the folder is
sent as it is; the upload uses tus (any dropped connection resumes from what the server holds) and then makes a
document of it, whose pages the OCR workers read. Exit status 0 when the document was made, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import zipfile
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from tusclient import client as tus_client

from reader.domain.local_documents import natural_key, sniff_page

CHUNK_BYTES = 8 * 1024 * 1024


def pack(folder: Path, target: Path) -> Path:
    """The PDF of the folder if it holds exactly one, else a zip of its page images in natural order."""
    pdfs = [path for path in folder.iterdir() if path.suffix.lower() == ".pdf" and path.is_file()]
    if len(pdfs) == 1:
        return pdfs[0]
    images = sorted(
        (path for path in folder.rglob("*") if path.is_file() and sniff_page(path.open("rb").read(16)) is not None),
        key=lambda path: natural_key(str(path.relative_to(folder))),
    )
    if not images:
        raise SystemExit(f"{folder} holds no page image (TIFF, JPEG, PNG, JPEG 2000) and no single PDF")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:  # scans do not compress: store them
        for path in images:
            archive.write(path, str(path.relative_to(folder)))
    return target


def staff_token(lending: str, user: str, password: str) -> str:
    response = httpx.post(f"{lending}/v1/auth/staff-token", json={"username": user, "password": password}, timeout=30)
    if response.status_code != 200:
        raise SystemExit(f"sign-in refused: {response.json().get('detail', response.text)}")
    return str(response.json()["access_token"])


def upload(reader: str, token: str, path: Path, console: Console) -> str:
    """Send ``path`` with tus, showing progress; the upload id."""
    headers = {"Authorization": f"Bearer {token}"}
    client = tus_client.TusClient(f"{reader}/v1/local-documents/uploads", headers=headers)
    uploader = client.uploader(str(path), chunk_size=CHUNK_BYTES, metadata={"filename": path.name}, retries=5,
                               retry_delay=3)  # fmt: skip
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console) as progress:
        size = path.stat().st_size
        task = progress.add_task(path.name[:40], total=size)
        while uploader.offset < size:
            uploader.upload_chunk()  # type: ignore[no-untyped-call]  # tuspy has no annotations here
            progress.update(task, completed=uploader.offset)
    return str(uploader.url).rstrip("/").rsplit("/", 1)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--reader", required=True, help="the reader service's base URL")
    parser.add_argument("--lending", required=True, help="the lending service's base URL (staff sign-in)")
    parser.add_argument("--user", required=True, help="your staff user name")
    parser.add_argument("--title", default="", help="the document's title (it can be described later)")
    args = parser.parse_args()
    password = sys.stdin.readline().strip()
    console = Console()
    token = staff_token(args.lending.rstrip("/"), args.user, password)
    with tempfile.TemporaryDirectory() as folder:
        path = pack(args.folder, Path(folder) / f"{args.folder.name or 'scans'}.zip")
        upload_id = upload(args.reader.rstrip("/"), token, path, console)
    made = httpx.post(
        f"{args.reader.rstrip('/')}/v1/local-documents",
        json={"upload_id": upload_id, "title": args.title},
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(1800, connect=10),
    )
    if made.status_code != 201:
        console.print(f"[red]refused[/]: {made.json().get('detail', made.text)}")
        return 1
    document = made.json()
    console.print(f"[green]{document['id']}[/]: {document['page_count']} pages, queued for OCR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
