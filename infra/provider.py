"""Send SMS and place calls through the `twilio` REST client, against Twilio or the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

# Twilio's code for "too many requests"; it counts as rate limiting whatever the HTTP status.
RATE_LIMITED_CODE = 20429
# The call progress events the voice status handler wants, in the order they happen.
CALL_STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
PROVIDER_KINDS = ("twilio", "sandbox")
SANDBOX_POOL_SIZE = 32
# Where Twilio keeps recordings: the only host our credentials are ever sent to, over https.
TWILIO_API_ORIGIN = "https://api.twilio.com"
TWILIO_RECORDINGS_PATH = "/2010-04-01/Accounts/{account_sid}/Recordings/"
SANDBOX_RECORDINGS_PATH = "/_sandbox/recordings/"
AUDIO_SUFFIXES = (".wav", ".mp3")
RECORDING_TIMEOUT_S = 10.0
# requests errors that no retry will fix: the URL itself is wrong.
_CONFIGURATION_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)


@dataclass(frozen=True)
class SentMessage:
    """A message as the provider knows it: accepted by a send, or found by a lookup."""

    sid: str
    to: str
    body: str
    status: str
    date_created: datetime | None
    error_code: int | None


class ProviderError(Exception):
    """The provider refused a request or could not be reached; says whether a retry may help."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        connection_error: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.connection_error = connection_error

    @property
    def rate_limited(self) -> bool:
        """True when the provider asked us to slow down."""
        return self.status == 429 or self.code == RATE_LIMITED_CODE

    @property
    def transient(self) -> bool:
        """True when the same request may succeed later (rate limit, server fault, network)."""
        if self.connection_error or self.rate_limited:
            return True
        return self.status is not None and self.status >= 500

    def __str__(self) -> str:
        details = [f"HTTP {self.status}"] if self.status is not None else []
        if self.code is not None:
            details.append(f"code {self.code}")
        return f"{self.message} ({', '.join(details)})" if details else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments would be lost by the default pickling RQ uses for exceptions.
        return (self.__class__, (self.message,), self.__dict__)


class RecordingRefused(ProviderError):
    """A recording URL, or a redirect it answered with, that we will not fetch."""


class RedirectRefused(RecordingRefused):
    """The provider's own URL redirected somewhere we do not follow (say where in the log)."""


@dataclass(frozen=True)
class RecordingAudio:
    """A recording's audio as fetched from the provider."""

    content: bytes
    mimetype: str


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL with no user part, or None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def _host_port(entry: str) -> tuple[str, int]:
    """A RECORDING_REDIRECT_HOSTS entry (`host` or `host:port`) as an https (host, port)."""
    origin = _origin("https://" + entry.strip())
    if origin is None:
        raise ValueError(f"not a host name: {entry!r}")
    return origin[1], origin[2]


class Provider(Protocol):
    """What the app needs from an SMS and voice provider."""

    def send_sms(self, to: str, body: str, status_callback: str | None = None) -> SentMessage:
        """Hand one SMS to the provider; return it as accepted (status usually `queued`)."""
        ...

    def place_call(
        self,
        to: str,
        url: str,
        status_callback: str | None = None,
        machine_detection: bool = False,
    ) -> str:
        """Start an outbound call whose TwiML comes from `url`; return its CallSid."""
        ...

    def list_messages(self, to: str, sent_after: datetime) -> list[SentMessage]:
        """Messages sent to `to` at or after `sent_after`, as the provider has them."""
        ...

    def recording_url_allowed(self, url: str) -> bool:
        """Whether a RecordingUrl a webhook brought is one of this provider's recordings."""
        ...

    def fetch_recording(self, url: str) -> RecordingAudio:
        """A recording's audio; RecordingRefused for a URL not allowed, ProviderError else."""
        ...


class TwilioProvider(Provider):
    """The provider over a `twilio.rest.Client`, whichever base URL that client points at.

    Recordings are fetched from `media_origin` only (Twilio's API host over https, or the
    sandbox's own URL), with our credentials, under this account's recordings path. A redirect
    is followed once, only to an https host of `redirect_hosts`, without credentials: Twilio
    answers with a short-lived URL of its media storage when the account requires HTTP auth
    on media. Anything else is refused before a request is made.
    """

    def __init__(
        self,
        client: Client,
        from_number: str,
        *,
        media_origin: str = TWILIO_API_ORIGIN,
        recordings_path: str | None = None,
        redirect_hosts: Iterable[str] = (),
        verify: bool | str = True,
    ) -> None:
        self.client = client
        self.from_number = from_number
        origin = _origin(media_origin)
        if origin is None:
            raise ValueError(f"media_origin must be an http(s) URL: {media_origin!r}")
        self.media_origin = origin
        self.recordings_path = recordings_path or TWILIO_RECORDINGS_PATH.format(
            account_sid=client.username
        )
        self.redirect_hosts = frozenset(_host_port(entry) for entry in redirect_hosts)
        self.verify = verify  # a CA bundle in tests; True (the system's) otherwise

    def send_sms(self, to: str, body: str, status_callback: str | None = None) -> SentMessage:
        """Create a Message resource; raise ProviderError when Twilio refuses it."""
        try:
            message = self.client.messages.create(
                to=to, from_=self.from_number, body=body, status_callback=status_callback
            )
        except (TwilioException, requests.RequestException) as exc:
            raise provider_error(exc) from exc
        return _sent_message(message)

    def place_call(
        self,
        to: str,
        url: str,
        status_callback: str | None = None,
        machine_detection: bool = False,
    ) -> str:
        """Create a Call resource that fetches its TwiML from `url`; return the CallSid."""
        options: dict[str, Any] = {}
        if status_callback is not None:
            options["status_callback"] = status_callback
            options["status_callback_event"] = list(CALL_STATUS_EVENTS)
            options["status_callback_method"] = "POST"
        if machine_detection:
            options["machine_detection"] = "Enable"
        try:
            call = self.client.calls.create(
                to=to, from_=self.from_number, url=url, method="POST", **options
            )
        except (TwilioException, requests.RequestException) as exc:
            raise provider_error(exc) from exc
        return str(call.sid)

    def list_messages(self, to: str, sent_after: datetime) -> list[SentMessage]:
        """Read every page of messages to `to` sent at or after `sent_after` (naive means UTC)."""
        if sent_after.tzinfo is None:
            sent_after = sent_after.replace(tzinfo=UTC)
        # The SDK formats the datetime with a literal "Z", so it must already be in UTC.
        sent_after = sent_after.astimezone(UTC)
        try:
            messages = self.client.messages.list(to=to, date_sent_after=sent_after)
        except (TwilioException, requests.RequestException) as exc:
            raise provider_error(exc) from exc
        return [_sent_message(message) for message in messages]

    def recording_url_allowed(self, url: str) -> bool:
        """Only this provider's media origin, only under its recordings path."""
        if _origin(url) != self.media_origin:
            return False
        path = urlsplit(url).path
        return path.startswith(self.recordings_path) and ".." not in path

    def fetch_recording(self, url: str) -> RecordingAudio:
        """GET the recording with our credentials, following one allowed redirect without."""
        if not self.recording_url_allowed(url):
            raise RecordingRefused("recording URL is not the provider's")
        if not urlsplit(url).path.endswith(AUDIO_SUFFIXES):
            url += ".wav"  # a Twilio RecordingUrl names no format; .wav is one browsers play
        auth = (self.client.username, self.client.password)
        response = self._get(url, auth=auth)
        if response.is_redirect:
            target = urljoin(url, response.headers.get("Location", ""))
            origin = _origin(target)
            if origin is None or origin[0] != "https" or origin[1:] not in self.redirect_hosts:
                where = "an unreadable URL" if origin is None else "{}://{}:{}".format(*origin)
                raise RedirectRefused(
                    f"recording redirected to {where}, not an https host of "
                    "RECORDING_REDIRECT_HOSTS"
                )
            response = self._get(target, auth=None)
            if response.is_redirect:
                raise RedirectRefused("recording redirected a second time")
        if response.status_code != 200:
            raise ProviderError("recording not available", status=response.status_code)
        mimetype = response.headers.get("Content-Type", "audio/wav").split(";")[0].strip()
        return RecordingAudio(response.content, mimetype or "audio/wav")

    def _get(self, url: str, auth: tuple[str, str] | None) -> requests.Response:
        try:
            return requests.get(
                url,
                auth=auth,
                allow_redirects=False,
                timeout=RECORDING_TIMEOUT_S,
                verify=self.verify,
            )
        except requests.RequestException as exc:
            raise provider_error(exc) from exc


def build_provider(
    *,
    kind: str,
    account_sid: str,
    auth_token: str,
    from_number: str,
    sandbox_url: str | None = None,
    timeout: float = 10.0,
    recording_redirect_hosts: Iterable[str] = (),
) -> TwilioProvider:
    """Build the provider: the real twilio client, pointed at the sandbox when kind is sandbox.

    Twilio's recordings come from api.twilio.com only; the sandbox's from the sandbox itself.
    """
    if kind not in PROVIDER_KINDS:
        raise ValueError(f"provider kind must be one of {PROVIDER_KINDS}, not {kind!r}")
    # One pooled session keeps connections alive between sends, which matters at 100k messages.
    http_client = TwilioHttpClient(pool_connections=True, timeout=timeout)
    client = Client(account_sid, auth_token, http_client=http_client)
    if kind == "sandbox":
        if not sandbox_url:
            raise ValueError("the sandbox provider needs sandbox_url")
        # The Api domain joins base_url with every resource path (Domain.absolute_url), so this
        # one attribute moves messages, calls and paging to the sandbox.
        client.api.base_url = sandbox_url.rstrip("/")
        if http_client.session is not None:
            # A local sandbox is never behind a proxy, and reading the proxy settings from the
            # environment on every request costs about as much as the request itself.
            http_client.session.trust_env = False
            # The SDK sizes the pool for https only; senders in threads need more than 10 here.
            http_client.session.mount("http://", HTTPAdapter(pool_maxsize=SANDBOX_POOL_SIZE))
        return TwilioProvider(
            client,
            from_number,
            media_origin=sandbox_url,
            recordings_path=SANDBOX_RECORDINGS_PATH,
            redirect_hosts=recording_redirect_hosts,
        )
    return TwilioProvider(client, from_number, redirect_hosts=recording_redirect_hosts)


def provider_error(exc: Exception) -> ProviderError:
    """Translate an exception from the twilio SDK or from requests into a ProviderError."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TwilioRestException):
        return ProviderError(exc.msg or "Twilio error", status=exc.status, code=_int(exc.code))
    if isinstance(exc, TwilioServiceException):
        return ProviderError(exc.detail or exc.title, status=exc.status, code=_int(exc.code))
    if isinstance(exc, _CONFIGURATION_ERRORS):
        return ProviderError(f"provider URL is wrong: {exc}")
    if isinstance(exc, requests.RequestException):
        # Timeouts, refused or dropped connections: the provider may be back in a moment.
        return ProviderError(f"provider unreachable: {exc}", connection_error=True)
    if isinstance(exc, TwilioException):
        return _page_error(exc)
    return ProviderError(f"provider request failed: {exc}")


def _page_error(exc: TwilioException) -> ProviderError:
    """A list page that failed raises a bare TwilioException carrying the HTTP response."""
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    code: int | None = None
    message = str(exc.args[0]) if exc.args else "Twilio error"
    try:
        payload = json.loads(getattr(response, "text", "") or "")
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        code = _int(payload.get("code"))
        message = str(payload.get("message") or message)
    return ProviderError(message, status=_int(status), code=code)


def _sent_message(resource: Any) -> SentMessage:
    """Copy the fields we keep from a twilio MessageInstance."""
    return SentMessage(
        sid=str(resource.sid),
        to=str(resource.to or ""),
        body=str(resource.body or ""),
        status=str(resource.status or ""),
        date_created=resource.date_created,
        error_code=_int(resource.error_code),
    )


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


__all__ = [
    "CALL_STATUS_EVENTS",
    "Provider",
    "ProviderError",
    "RecordingAudio",
    "RecordingRefused",
    "RedirectRefused",
    "SentMessage",
    "TwilioProvider",
    "build_provider",
    "provider_error",
]
