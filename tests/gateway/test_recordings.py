"""Fetching recordings: only from the provider's own host, credentials to it alone."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.rest import Client

from infra.providers.twilio import (
    ProviderError,
    RecordingRefused,
    RedirectRefused,
    TwilioProvider,
    build_twilio,
)
from models import Member, Recording
from tests.factories import make_member, make_tree
from tests.support import TwilioClient
from tests.tls import self_signed_cert, serve

ACCOUNT = "AC" + "1" * 32
TOKEN = "recording-test-token"
RECORDINGS = f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/"
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt "


@dataclass
class Seen:
    """What a test server was asked: each path with the Authorization header it carried."""

    requests: list[tuple[str, str | None]] = field(default_factory=list)
    redirect_to: str | None = None


def handler_for(seen: Seen) -> type[BaseHTTPRequestHandler]:
    """A server that notes each request and answers audio, or a redirect when told to."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the http.server API
            seen.requests.append((self.path, self.headers.get("Authorization")))
            if seen.redirect_to:
                self.send_response(302)
                self.send_header("Location", seen.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "audio/x-wav")
            self.send_header("Content-Length", str(len(AUDIO)))
            self.end_headers()
            self.wfile.write(AUDIO)

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that the provider under test trusts."""
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def api(cert: tuple[Path, Path]) -> Iterator[tuple[str, Seen]]:
    """An https server standing in for api.twilio.com."""
    seen = Seen()
    with serve(handler_for(seen), cert) as origin:
        yield origin, seen


@pytest.fixture
def storage(cert: tuple[Path, Path]) -> Iterator[tuple[str, Seen]]:
    """An https server standing in for the media storage Twilio redirects to."""
    seen = Seen()
    with serve(handler_for(seen), cert) as origin:
        yield origin, seen


def provider_at(
    origin: str, cert: tuple[Path, Path], redirect_hosts: tuple[str, ...] = ()
) -> TwilioProvider:
    """The Twilio provider with its API host moved to a local server (as the sandbox's is)."""
    return TwilioProvider(
        Client(ACCOUNT, TOKEN),
        "+8610690000",
        media_origin=origin,
        redirect_hosts=redirect_hosts,
        verify=str(cert[0]),
    )


TWILIO = build_twilio(kind="twilio", account_sid=ACCOUNT, auth_token=TOKEN, from_number="+1")


@pytest.mark.parametrize(
    "url",
    [
        f"https://api.evil-twilio.com{RECORDINGS}RE1",  # the host that got our credentials
        f"https://api.twilio.com.evil.org{RECORDINGS}RE1",
        f"https://evil.org/api.twilio.com{RECORDINGS}RE1",
        f"http://api.twilio.com{RECORDINGS}RE1",  # not https
        f"https://api.twilio.com:8443{RECORDINGS}RE1",
        f"https://user:pw@api.twilio.com{RECORDINGS}RE1",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://169.254.169.254/latest/meta-data/",
        f"https://api.twilio.com/2010-04-01/Accounts/AC{'2' * 32}/Recordings/RE1",  # not ours
        f"https://api.twilio.com{RECORDINGS}../../Calls.json",
        "https://api.twilio.com:notaport/x",
        "recordings/thought.wav",
        "file:///etc/passwd",
        "",
    ],
)
def test_twilio_refuses_any_recording_url_but_its_own(url: str) -> None:
    """Only api.twilio.com over https, under this account's recordings, is fetched; the
    refusal comes before any request."""
    assert not TWILIO.recording_url_allowed(url)
    with pytest.raises(RecordingRefused):
        TWILIO.fetch_recording(url)


def test_twilio_takes_its_own_recording_urls() -> None:
    """The RecordingUrl Twilio sends is allowed as it comes."""
    assert TWILIO.recording_url_allowed(f"https://api.twilio.com{RECORDINGS}RE{'a' * 32}")
    assert TWILIO.recording_url_allowed(f"https://API.twilio.com:443{RECORDINGS}RE1.mp3")


def test_the_recording_is_fetched_with_credentials_from_the_api_host(
    api: tuple[str, Seen], cert: tuple[Path, Path]
) -> None:
    """A recording on the provider's host: fetched (as .wav) with Basic auth."""
    origin, seen = api
    audio = provider_at(origin, cert).fetch_recording(f"{origin}{RECORDINGS}RE1")
    assert audio.content == AUDIO and audio.mimetype == "audio/x-wav"
    [(path, authorization)] = seen.requests
    assert path == f"{RECORDINGS}RE1.wav"
    assert authorization is not None and authorization.startswith("Basic ")


def test_plain_http_to_the_api_host_is_refused(
    api: tuple[str, Seen], cert: tuple[Path, Path]
) -> None:
    """The same host and port over http is not the provider's origin."""
    origin, seen = api
    provider = provider_at(origin, cert)
    with pytest.raises(RecordingRefused):
        provider.fetch_recording(origin.replace("https://", "http://") + f"{RECORDINGS}RE1")
    assert seen.requests == []


def test_a_redirect_to_a_host_not_allowed_is_not_followed(
    api: tuple[str, Seen], storage: tuple[str, Seen], cert: tuple[Path, Path]
) -> None:
    """The API host answers 302 to another host: refused, and that host is never asked."""
    origin, api_seen = api
    elsewhere, storage_seen = storage
    api_seen.redirect_to = f"{elsewhere}/media/RE1"
    with pytest.raises(RedirectRefused, match=elsewhere):
        provider_at(origin, cert).fetch_recording(f"{origin}{RECORDINGS}RE1")
    assert len(api_seen.requests) == 1 and storage_seen.requests == []


def test_a_redirect_to_an_allowed_host_is_followed_without_credentials(
    api: tuple[str, Seen], storage: tuple[str, Seen], cert: tuple[Path, Path]
) -> None:
    """RECORDING_REDIRECT_HOSTS names the storage host: followed once, with no credentials."""
    origin, api_seen = api
    elsewhere, storage_seen = storage
    api_seen.redirect_to = f"{elsewhere}/media/RE1?Expires=1&Signature=x"
    host = elsewhere.removeprefix("https://")
    audio = provider_at(origin, cert, (host,)).fetch_recording(f"{origin}{RECORDINGS}RE1")
    assert audio.content == AUDIO
    assert api_seen.requests[0][1] is not None  # credentials to the API host
    assert storage_seen.requests == [("/media/RE1?Expires=1&Signature=x", None)]


def test_an_allowed_host_over_http_or_a_second_redirect_is_refused(
    api: tuple[str, Seen], storage: tuple[str, Seen], cert: tuple[Path, Path]
) -> None:
    """Allowed hosts are reached over https only, and one redirect is all that is followed."""
    origin, api_seen = api
    elsewhere, storage_seen = storage
    host = elsewhere.removeprefix("https://")
    provider = provider_at(origin, cert, (host,))
    api_seen.redirect_to = f"http://{host}/media/RE1"
    with pytest.raises(RecordingRefused):
        provider.fetch_recording(f"{origin}{RECORDINGS}RE1")
    assert storage_seen.requests == []
    api_seen.redirect_to = f"{elsewhere}/media/RE1"
    storage_seen.redirect_to = "https://169.254.169.254/latest/meta-data/"
    with pytest.raises(RecordingRefused):
        provider.fetch_recording(f"{origin}{RECORDINGS}RE1")
    assert len(storage_seen.requests) == 1


def test_an_upstream_error_is_a_provider_error(cert: tuple[Path, Path], tmp_path: Path) -> None:
    """Nothing listening on the API host: ProviderError (the admin answers 502), not a crash."""
    provider = provider_at("https://127.0.0.1:9", cert)
    with pytest.raises(ProviderError) as caught:
        provider.fetch_recording(f"https://127.0.0.1:9{RECORDINGS}RE1")
    assert not isinstance(caught.value, RecordingRefused)


def test_the_sandbox_provider_allows_its_own_recordings_only() -> None:
    """The sandbox serves recordings on its own URL (plain http, on this machine)."""
    sandbox = build_twilio(
        kind="sandbox",
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        from_number="+1",
        sandbox_url="http://127.0.0.1:5055/",
    )
    assert sandbox.recording_url_allowed("http://127.0.0.1:5055/_sandbox/recordings/RE1.wav")
    assert not sandbox.recording_url_allowed("http://127.0.0.1:5056/_sandbox/recordings/RE1")
    assert not sandbox.recording_url_allowed("http://127.0.0.1:5055/_sandbox/faults")
    assert not sandbox.recording_url_allowed(f"https://api.twilio.com{RECORDINGS}RE1")


# --- the voice webhook keeps only the provider's recording URLs -----------------------------


@pytest.fixture
def member(app: Flask, session: Session) -> Member:
    """A member who calls the hotline."""
    _, branch, _ = make_tree(session)
    made = make_member(session, branch, phone="+8613800000001")
    session.commit()
    return made


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("http://127.0.0.1:9/_sandbox/recordings/RE5.wav", True),  # the test's SANDBOX_URL
        ("http://169.254.169.254/latest/meta-data/", False),
        (f"https://api.evil-twilio.com{RECORDINGS}RE5", False),
        ("recordings/thought.wav", False),
    ],
)
def test_a_foreign_recording_url_is_not_stored(
    twilio: TwilioClient, session: Session, member: Member, url: str, kept: bool
) -> None:
    """A message left by keypad with a foreign RecordingUrl: the call goes on, the recording
    is kept with its sid and length, and the URL is not (nothing will ever fetch it)."""
    call = {"CallSid": "CA" + "5" * 32, "From": member.phone, "To": "+8610690000"}
    assert twilio.post("/voice", call).status_code == 200
    assert twilio.post("/voice/menu/choose", {**call, "Digits": "0"}).status_code == 200
    response = twilio.post(
        "/voice/message/recorded",
        {**call, "RecordingUrl": url, "RecordingSid": "RE" + "5" * 32, "RecordingDuration": "9"},
    )
    assert response.status_code == 200
    assert ET.fromstring(response.data).tag == "Response"
    session.expire_all()
    recording = session.scalars(select(Recording)).one()
    assert (recording.url, recording.duration) == ((url if kept else ""), 9)
