"""Twilio: SMS and calls through the `twilio` REST client, against Twilio or the sandbox.

Everything Twilio-specific lives here: the credentials, the callback addresses we give it,
its error codes and statuses (read into the domain's Failure and Delivery), the webhook
signature, and where its recordings may be fetched from.
"""

from __future__ import annotations

import functools
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlparse, urlsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator, add_port, remove_port
from twilio.rest import Client

from infra.providers.base import (
    OutboundCall,
    OutboundSms,
    ProviderError,
    Receipt,
    RecordingAudio,
    RecordingRefused,
    RedirectRefused,
    SentMessage,
    failure_of_status,
)
from models.delivery import Failure
from models.lesson import LessonPlayback
from models.message import MessageStatus
from models.numbers import parse_int

# The call progress events the voice status handler wants, in the order they happen.
CALL_STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
KINDS = ("twilio", "sandbox")
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

# Twilio's error codes that say something about the recipient or about our pace.
RATE_LIMITED_CODE = "20429"  # too many requests, whatever the HTTP status
FAILURES: dict[str, Failure] = {
    RATE_LIMITED_CODE: Failure.RATE_LIMITED,
    "21610": Failure.OPTED_OUT,  # the recipient replied STOP
    "21211": Failure.INVALID_NUMBER,  # invalid To number
    "21614": Failure.INVALID_NUMBER,  # To is not a mobile number
    "30003": Failure.UNREACHABLE,  # unreachable destination handset
}

# Twilio's MessageStatus values. Its own queued/sending mean it has the message: our `sent`.
DELIVERIES: dict[str, MessageStatus] = {
    "accepted": MessageStatus.SENT,
    "scheduled": MessageStatus.SENT,
    "queued": MessageStatus.SENT,
    "sending": MessageStatus.SENT,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
}


def failure_of(status: int | None, code: str | None) -> Failure:
    """The domain's reading of a refusal: by Twilio's code first, then by the HTTP status."""
    return FAILURES.get(code or "") or failure_of_status(status)


def delivery_failure(code: str | None) -> Failure | None:
    """What an ErrorCode on an undelivered or failed message says about the recipient."""
    return FAILURES.get(code or "")


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


class CallbackUrls:
    """The addresses Twilio calls us back at, built from PUBLIC_BASE_URL.

    Each names our own row (the message or call id), so a callback that arrives before the
    worker has stored Twilio's sid still finds its row.
    """

    def __init__(self, base: str | None) -> None:
        self.base = base.rstrip("/") if base else None

    def sms_status(self, message_id: int) -> str | None:
        """The StatusCallback of an outbound text: /status with the row id."""
        return None if self.base is None else f"{self.base}/status?id={message_id}"

    def call_twiml(self, call_id: int) -> str:
        """Where Twilio fetches an outbound call's TwiML (the Call row's id)."""
        if self.base is None:
            raise ProviderError("PUBLIC_BASE_URL is needed to place calls")
        return f"{self.base}/voice/outbound?call={call_id}"

    def call_status(self, call_id: int) -> str | None:
        """The status callback of a call we place, naming its Call row."""
        return None if self.base is None else f"{self.base}/voice/status?call={call_id}"


class TwilioProvider:
    """The provider over a `twilio.rest.Client`, whichever base URL that client points at.

    Recordings are fetched from `media_origin` only (Twilio's API host over https, or the
    sandbox's own URL), with our credentials, under this account's recordings path. A redirect
    is followed once, only to an https host of `redirect_hosts`, without credentials: Twilio
    answers with a short-lived URL of its media storage when the account requires HTTP auth
    on media. Anything else is refused before a request is made.
    """

    # Twilio lists a message as soon as it is accepted.
    lookup_lag = timedelta(0)
    lesson_playback = LessonPlayback.ANY

    def __init__(
        self,
        client: Client,
        from_number: str,
        *,
        callback_base: str | None = None,
        media_origin: str = TWILIO_API_ORIGIN,
        recordings_path: str | None = None,
        redirect_hosts: Iterable[str] = (),
        verify: bool | str = True,
    ) -> None:
        self.client = client
        self.from_number = from_number
        self.urls = CallbackUrls(callback_base)
        origin = _origin(media_origin)
        if origin is None:
            raise ValueError(f"media_origin must be an http(s) URL: {media_origin!r}")
        self.media_origin = origin
        self.recordings_path = recordings_path or TWILIO_RECORDINGS_PATH.format(
            account_sid=client.username
        )
        self.redirect_hosts = frozenset(_host_port(entry) for entry in redirect_hosts)
        self.verify = verify  # a CA bundle in tests; True (the system's) otherwise

    def send_sms(self, sms: OutboundSms) -> SentMessage:
        """Create a Message resource with the rendered body; ProviderError when refused."""
        try:
            message = self.client.messages.create(
                to=sms.to,
                from_=self.from_number,
                body=sms.body,
                status_callback=self.urls.sms_status(sms.message_id),
            )
        except (TwilioException, requests.RequestException) as exc:
            raise provider_error(exc) from exc
        return _sent_message(message)

    def place_call(self, call: OutboundCall) -> str:
        """Create a Call resource that fetches its TwiML from us; return the CallSid."""
        options: dict[str, Any] = {}
        status_callback = self.urls.call_status(call.call_id)
        if status_callback is not None:
            options["status_callback"] = status_callback
            options["status_callback_event"] = list(CALL_STATUS_EVENTS)
            options["status_callback_method"] = "POST"
        if call.machine_detection:
            options["machine_detection"] = "Enable"
        try:
            created = self.client.calls.create(
                to=call.to,
                from_=self.from_number,
                url=self.urls.call_twiml(call.call_id),
                method="POST",
                **options,
            )
        except (TwilioException, requests.RequestException) as exc:
            raise provider_error(exc) from exc
        return str(created.sid)

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
            raise ProviderError(
                "recording not available",
                status=response.status_code,
                failure=failure_of(response.status_code, None),
            )
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


def build_twilio(
    *,
    kind: str,
    account_sid: str,
    auth_token: str,
    from_number: str,
    callback_base: str | None = None,
    sandbox_url: str | None = None,
    timeout: float = 10.0,
    recording_redirect_hosts: Iterable[str] = (),
) -> TwilioProvider:
    """The provider: the real twilio client, pointed at the sandbox when kind is sandbox.

    Twilio's recordings come from api.twilio.com only; the sandbox's from the sandbox itself.
    """
    if kind not in KINDS:
        raise ValueError(f"provider kind must be one of {KINDS}, not {kind!r}")
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
            callback_base=callback_base,
            media_origin=sandbox_url,
            recordings_path=SANDBOX_RECORDINGS_PATH,
            redirect_hosts=recording_redirect_hosts,
        )
    return TwilioProvider(
        client, from_number, callback_base=callback_base, redirect_hosts=recording_redirect_hosts
    )


def redirect_hosts(setting: str) -> list[str]:
    """RECORDING_REDIRECT_HOSTS as a list of `host` or `host:port` entries."""
    return [entry.strip().lower() for entry in setting.split(",") if entry.strip()]


def from_config(config: Mapping[str, Any]) -> TwilioProvider:
    """The provider the app's settings describe (PROVIDER twilio or sandbox)."""
    return build_twilio(
        kind=str(config["PROVIDER"]),
        account_sid=str(config["TWILIO_ACCOUNT_SID"]),
        auth_token=str(config["TWILIO_AUTH_TOKEN"]),
        from_number=str(config["TWILIO_FROM_NUMBER"]),
        callback_base=config.get("PUBLIC_BASE_URL") or None,
        sandbox_url=config.get("SANDBOX_URL") or None,
        recording_redirect_hosts=redirect_hosts(str(config.get("RECORDING_REDIRECT_HOSTS", ""))),
    )


def provider_error(exc: Exception) -> ProviderError:
    """Translate an exception from the twilio SDK or from requests into a ProviderError."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TwilioRestException):
        return _refusal(exc.msg or "Twilio error", exc.status, exc.code)
    if isinstance(exc, TwilioServiceException):
        return _refusal(exc.detail or exc.title, exc.status, exc.code)
    if isinstance(exc, _CONFIGURATION_ERRORS):
        return ProviderError(f"provider URL is wrong: {exc}")
    if isinstance(exc, requests.RequestException):
        # Timeouts, refused or dropped connections: the provider may be back in a moment.
        return ProviderError(
            f"provider unreachable: {exc}", failure=Failure.RETRY_LATER, connection_error=True
        )
    if isinstance(exc, TwilioException):
        return _page_error(exc)
    return ProviderError(f"provider request failed: {exc}")


def _refusal(message: str, status: Any, code: Any) -> ProviderError:
    status_number, code_text = _int(status), _code(code)
    return ProviderError(
        message,
        status=status_number,
        code=code_text,
        failure=failure_of(status_number, code_text),
    )


def _page_error(exc: TwilioException) -> ProviderError:
    """A list page that failed raises a bare TwilioException carrying the HTTP response."""
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    code: Any = None
    message = str(exc.args[0]) if exc.args else "Twilio error"
    try:
        payload = json.loads(getattr(response, "text", "") or "")
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        code = payload.get("code")
        message = str(payload.get("message") or message)
    return _refusal(message, status, code)


def _sent_message(resource: Any) -> SentMessage:
    """Copy the fields we keep from a twilio MessageInstance."""
    code = _code(resource.error_code)
    return SentMessage(
        sid=str(resource.sid),
        to=str(resource.to or ""),
        body=str(resource.body or ""),
        delivery=DELIVERIES.get(str(resource.status or "")),
        date_created=resource.date_created,
        error_code=code,
        failure=delivery_failure(code),
    )


def sms_receipt(form: Mapping[str, str], args: Mapping[str, str]) -> Receipt | None:
    """A status callback's fields (our row id comes back in the query); None if no message."""
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    if not sid:
        return None
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    code = _code((form.get("ErrorCode") or "").strip())
    return Receipt(
        sid=sid[:64],
        delivery=DELIVERIES.get(status),
        to=(form.get("To") or "").strip(),
        message_id=_int((args.get("id") or "").strip()),
        error_code=code,
        failure=delivery_failure(code),
    )


def _int(value: Any) -> int | None:
    """A number Twilio sent (an int, or text from a form); None for anything else."""
    return parse_int(value)


def _code(value: Any) -> str | None:
    """An error code as text: Twilio's are numbers; anything else is no code."""
    number = _int(value)
    return None if number is None else str(number)


class SignatureCheck:
    """Twilio's X-Twilio-Signature on a webhook, checked with our auth token."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SignatureCheck:
        """The check with the app's TWILIO_AUTH_TOKEN."""
        return cls(str(config["TWILIO_AUTH_TOKEN"]))

    def valid(self, url: str, form: Mapping[str, Any], signature: str) -> bool:
        """Whether `signature` signs this public URL and form.

        RequestValidator.validate signs twice on every call (the URL with and without its
        port, since Twilio is not consistent about ports); signing the URL as configured
        first, and the other form only on a mismatch, accepts the same requests for half
        the work.
        """
        if not signature:
            return False
        expected = signature.encode()
        for candidate in _signed_forms(url):
            computed = self.validator.compute_signature(candidate, form)
            if hmac.compare_digest(computed.encode(), expected):
                return True
        return False


@functools.lru_cache(maxsize=1024)
def _signed_forms(url: str) -> tuple[str, ...]:
    """The URL as given, then its other form (port added or removed), as Twilio may sign it."""
    parsed = urlparse(url)
    forms = [url]
    for other in (remove_port(parsed), add_port(parsed)):
        if other not in forms:
            forms.append(other)
    return tuple(forms)


__all__ = [
    "CALL_STATUS_EVENTS",
    "DELIVERIES",
    "FAILURES",
    "CallbackUrls",
    "SignatureCheck",
    "TwilioProvider",
    "build_twilio",
    "delivery_failure",
    "failure_of",
    "from_config",
    "provider_error",
    "sms_receipt",
]
