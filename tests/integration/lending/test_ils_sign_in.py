"""Sign-in with an ILS card over SIP2, against a SIP2 server started by the test (pysip2's, playing the library's
ILS) and the real MongoDB-protocol server: valid card, wrong PIN, blocked card, server down, slow server, TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.streams.tls import TLSListener
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pysip2 import SIP2Server
from pysip2.models import (
    LoginRequest,
    LoginResponse,
    PatronInformationRequest,
    PatronInformationResponse,
    PatronStatusRequest,
    PatronStatusResponse,
)
from pysip2.routes import LOGIN, PATRON_INFORMATION, PATRON_STATUS, RequestContext

from lending.adapters.ils_patrons import MongoIlsPatrons
from lending.adapters.sip2_client import Sip2Directory
from lending.domain.patrons import CardStatus
from lending.service_layer.ils_sign_in import IlsConnection, IlsSignIn, IlsUnavailable
from tests.integration.kafka_helpers import wait_until
from tests.integration.lending.conftest import SIP2_LOGIN, Lending

pytestmark = pytest.mark.integration
OPEN = " " * 14
BLOCKED = "Y" + " " * 13  # charge privileges denied
# card: (PIN, name as the ILS keeps it, email, patron status)
CARDS = {
    "DL0001": ("1234", "Nguyễn Thị Hoa", "hoa@example.vn", OPEN),
    "DL0002": ("5678", "Trần Văn Bình", "", BLOCKED),
    "SLOW": ("0000", "Chậm", "", OPEN),
}


def ils_server() -> SIP2Server:
    """The library's ILS: requires our SIP2 login, answers Patron Information and Patron Status in UTF-8."""
    server = SIP2Server(encoding="utf-8", login_required=True, institution_id="DLK", error_detection="required")

    @server.route(LOGIN)
    def login(request: LoginRequest, context: RequestContext[LoginRequest, LoginResponse]) -> LoginResponse:
        accepted = (request.login_user_id, request.login_password) == (SIP2_LOGIN.user, SIP2_LOGIN.password)
        return LoginResponse(ok="1" if accepted else "0")

    def lookup(card: str, pin: str | None) -> tuple[str, str, str, str, str]:
        if card not in CARDS:
            return ("N", "N", "", "", OPEN)
        known_pin, name, email, status = CARDS[card]
        return ("Y", "Y" if pin == known_pin else "N", name, email, status)

    @server.route(PATRON_INFORMATION)
    async def information(
        request: PatronInformationRequest, context: RequestContext[PatronInformationRequest, PatronInformationResponse]
    ) -> PatronInformationResponse:
        assert request.institution_id == "DLK"
        assert request.terminal_password == SIP2_LOGIN.terminal_password
        if request.patron_identifier == "SLOW":
            await anyio.sleep(30)  # longer than the client waits; the server task is cancelled with the test
        valid, pin_ok, name, email, status = lookup(request.patron_identifier, request.patron_password)
        return PatronInformationResponse(
            patron_status=status, language="000", transaction_date=context.now_18(),
            hold_items_count="0000", overdue_items_count="0000", charged_items_count="0000",
            fine_items_count="0000", recall_items_count="0000", unavailable_holds_count="0000",
            institution_id="DLK", patron_identifier=request.patron_identifier, personal_name=name,
            valid_patron=valid, valid_patron_password=pin_ok, email_address=email or None,
            screen_message=("Thẻ bị khóa do quá hạn trả sách",) if status == BLOCKED else (),
        )  # fmt: skip

    @server.route(PATRON_STATUS)
    def status(
        request: PatronStatusRequest, context: RequestContext[PatronStatusRequest, PatronStatusResponse]
    ) -> PatronStatusResponse:
        valid, pin_ok, name, _, status = lookup(request.patron_identifier, request.patron_password)
        return PatronStatusResponse(
            patron_status=status, language="000", transaction_date=context.now_18(), institution_id="DLK",
            patron_identifier=request.patron_identifier, personal_name=name, valid_patron=valid,
            valid_patron_password=pin_ok,
        )  # fmt: skip

    return server


async def configure(lending: Lending, port: int, **extra: object) -> None:
    admin = await lending.staff_headers("admin.daklak")
    body = {"host": "127.0.0.1", "port": port, "institution": "DLK", **extra}
    answer = await lending.http.put("/v1/libraries/daklak/ils", json=body, headers=admin)
    assert answer.status_code == 200, answer.text


async def sign_in(lending: Lending, card: str, pin: str, library: str = "daklak") -> tuple[int, dict[str, object]]:
    answer = await lending.http.post(
        "/v1/auth/ils-token", json={"library_id": library, "card_number": card, "pin": pin}
    )
    return answer.status_code, answer.json()


async def test_a_patron_signs_in_with_her_ils_card(lending: Lending) -> None:
    async with ils_server().start(port=0) as port:
        await configure(lending, port)
        status, token = await sign_in(lending, "DL0001", "1234")
        assert status == 200, token
        me = await lending.http.get("/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert me.json()["library_id"] == "daklak"
        assert me.json()["display_name"] == "Nguyễn Thị Hoa"
        assert me.json()["status"] == "active"
        status, again = await sign_in(lending, " DL0001 ", "1234")
        assert status == 200
        assert await lending.store.patrons.count_documents({"ils_card": "daklak:DL0001"}) == 1  # linked once
        assert "refresh_token" not in again  # the ILS decides every sign-in

        wrong, problem = await sign_in(lending, "DL0001", "9999")
        assert (wrong, problem["type"]) == (401, "https://sachso.vn/problems/sign-in-failed")
        unknown, problem = await sign_in(lending, "DL9999", "1234")
        assert (unknown, problem["type"]) == (401, "https://sachso.vn/problems/sign-in-failed")
        blocked, problem = await sign_in(lending, "DL0002", "5678")
        assert (blocked, problem["type"]) == (403, "https://sachso.vn/problems/card-blocked-in-ils")
        assert "(charge privileges denied): Thẻ bị khóa do quá hạn trả sách" in str(problem["detail"])
        assert await lending.store.patrons.count_documents({"ils_card": "daklak:DL0002"}) == 0

        patron = await lending.store.patrons.find_one({"ils_card": "daklak:DL0001"})
        assert patron is not None
        await lending.store.patrons.update_one({"_id": patron["_id"]}, {"$set": {"status": CardStatus.BLOCKED.value}})
        here, problem = await sign_in(lending, "DL0001", "1234")  # blocked by the library's staff at Sách Số
        assert here == 403

        await configure(lending, port, message="patron-status")
        await lending.store.patrons.update_one({"_id": patron["_id"]}, {"$set": {"status": CardStatus.ACTIVE.value}})
        assert (await sign_in(lending, "DL0001", "1234"))[0] == 200
        assert (await sign_in(lending, "DL0001", "0000"))[0] == 401


async def test_a_linked_card_the_ils_blocks_later_is_blocked_here(
    lending: Lending, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(CARDS, "DL0003", ("4321", "Lê Văn Cường", "cuong@example.vn", OPEN))
    title_id = await lending.title_with_copies("Số đỏ", copies=1)
    async with ils_server().start(port=0) as port:
        await configure(lending, port)
        status, token = await sign_in(lending, "DL0003", "4321")
        assert status == 200, token
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        borrowed = await lending.http.post("/v1/loans", json={"title_id": title_id}, headers=headers)
        assert borrowed.status_code == 201, borrowed.text

        monkeypatch.setitem(CARDS, "DL0003", ("4321", "Lê Văn Cường", "cuong@example.vn", BLOCKED))  # in the ILS
        blocked, problem = await sign_in(lending, "DL0003", "4321")
        assert (blocked, problem["type"]) == (403, "https://sachso.vn/problems/card-blocked-in-ils")
        patron = await lending.store.patrons.find_one({"ils_card": "daklak:DL0003"})
        assert patron is not None
        assert (patron["status"], patron["ils_blocked"]) == (CardStatus.BLOCKED.value, True)  # blocked here too
        loan = await lending.store.loans.find_one({"_id": borrowed.json()["id"]})
        assert loan is not None
        assert loan["status"] == "returned"  # as a staff block does: the copy passes on, DRM ends the licence
        assert [event["key"] for event in await lending.events("PatronBlocked")] == [patron["_id"]]

        async def her_token_stopped() -> bool:  # within the card-status memory (half a second in tests)
            return (await lending.http.get("/v1/me", headers=headers)).status_code == 403

        await wait_until(her_token_stopped, within=10)

        monkeypatch.setitem(CARDS, "DL0003", ("4321", "Lê Văn Cường", "cuong@example.vn", OPEN))  # lifted there
        status, _ = await sign_in(lending, "DL0003", "4321")
        assert status == 200
        patron = await lending.store.patrons.find_one({"_id": patron["_id"]})
        assert patron is not None
        assert (patron["status"], patron["ils_blocked"]) == (CardStatus.ACTIVE.value, False)
        assert len(await lending.events("PatronUnblocked")) == 1

        staff = await lending.staff_headers("admin.daklak")  # a block staff set here is theirs to lift
        answer = await lending.http.post(f"/v1/libraries/daklak/patrons/{patron['_id']}/block", headers=staff)
        assert answer.status_code in (200, 204), answer.text
        assert (await sign_in(lending, "DL0003", "4321"))[0] == 403


async def test_pin_guessing_through_us_is_throttled(lending: Lending) -> None:
    async with ils_server().start(port=0) as port:
        await configure(lending, port)
        answers = [(await sign_in(lending, "DL0001", f"{guess:04d}"))[0] for guess in range(7)]
        assert answers[:5] == [401] * 5
        assert answers[5:] == [429, 429]  # counted before the ILS is asked
        assert (await sign_in(lending, "DL0001", "1234"))[0] == 429  # even the right PIN, from this client


async def test_a_clear_answer_when_the_ils_is_down_or_slow(lending: Lending) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    await configure(lending, closed_port)
    down, problem = await sign_in(lending, "DL0001", "1234")
    assert (down, problem["type"]) == (503, "https://sachso.vn/problems/ils-unavailable")
    assert f"127.0.0.1:{closed_port}" in str(problem["detail"])
    assert "cannot be reached" in str(problem["detail"])
    async with ils_server().start(port=0) as port:
        await configure(lending, port)
        slow, problem = await sign_in(lending, "SLOW", "0000")
        assert (slow, problem["type"]) == (503, "https://sachso.vn/problems/ils-unavailable")
        assert "did not answer within 2 s" in str(problem["detail"])
        assert (await sign_in(lending, "DL0001", "1234"))[0] == 200  # the next patron is not stuck behind it
    not_configured, problem = await sign_in(lending, "DL0001", "1234", library="eakar")
    assert (not_configured, problem["type"]) == (404, "https://sachso.vn/problems/ils-not-configured")


async def test_our_login_refused_by_the_ils(lending: Lending) -> None:
    async with ils_server().start(port=0) as port:
        connection = IlsConnection("daklak", "127.0.0.1", port, "DLK")
        wrong = Sip2Directory({"daklak": SIP2_LOGIN.__class__("sachso", "not the secret")}, timeout_seconds=2)
        sign_in_use_case = IlsSignIn(MongoIlsPatrons(lending.store), wrong, lending.issuer)
        await MongoIlsPatrons(lending.store).save_connection(connection)
        with pytest.raises(IlsUnavailable, match="refused our SIP2 login"):
            await sign_in_use_case.sign_in("daklak", "DL0001", "1234")


def certificate_authority(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A CA and a certificate for 127.0.0.1 signed by it: the server's TLS context and the CA file for the client."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test ILS CA")])
    now = dt.datetime.now(dt.UTC)
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, ca_file


@asynccontextmanager
async def tls_ils(context: ssl.SSLContext) -> AsyncIterator[int]:
    server = ils_server()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 (anyio, not Django)
    async with anyio.create_task_group() as group:
        tls = TLSListener(listener, context, standard_compatible=False)
        # pysip2's own start() has no TLS; its connection handler serves any byte stream
        group.start_soon(tls.serve, server._handle_connection)  # type: ignore[arg-type]
        try:
            yield port
        finally:
            group.cancel_scope.cancel()


async def test_sip2_over_tls(lending: Lending, tmp_path: Path) -> None:
    context, ca_file = certificate_authority(tmp_path)
    patrons = MongoIlsPatrons(lending.store)
    async with tls_ils(context) as port:
        await patrons.save_connection(IlsConnection("daklak", "127.0.0.1", port, "DLK", tls=True))
        trusted = Sip2Directory({"daklak": SIP2_LOGIN}, timeout_seconds=2, ca_file=str(ca_file))
        pair = await IlsSignIn(patrons, trusted, lending.issuer).sign_in("daklak", "DL0001", "1234")
        assert pair.access_token
        untrusted = Sip2Directory({"daklak": SIP2_LOGIN}, timeout_seconds=2)  # the system's CAs only
        with pytest.raises(IlsUnavailable, match="cannot be reached"):
            await IlsSignIn(patrons, untrusted, lending.issuer).sign_in("daklak", "DL0001", "1234")


async def test_who_may_configure_the_ils(lending: Lending) -> None:
    body = {"host": "127.0.0.1", "port": 6001, "institution": "DLK"}
    patron = lending.patron_headers(await lending.active_patron("ana"))
    librarian = await lending.staff_headers("thu.bmt")
    other_admin = await lending.staff_headers("admin.bmt")  # admin of Buôn Ma Thuột, not of the province library
    for headers, expected in (({}, 401), (patron, 403), (librarian, 403), (other_admin, 403)):
        assert (await lending.http.put("/v1/libraries/daklak/ils", json=body, headers=headers)).status_code == expected
        assert (await lending.http.get("/v1/libraries/daklak/ils", headers=headers)).status_code == expected
    own = await lending.http.put("/v1/libraries/buonmathuot/ils", json=body, headers=other_admin)
    assert own.status_code == 200
    assert (await lending.http.get("/v1/libraries/buonmathuot/ils", headers=other_admin)).json()["port"] == 6001
    injected = await lending.http.post(
        "/v1/auth/ils-token", json={"library_id": "buonmathuot", "card_number": "A|AD1234", "pin": "1"}
    )
    assert injected.status_code == 422  # no SIP2 field injection through the card number
