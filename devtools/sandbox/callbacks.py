"""Signed status callbacks and voice webhooks, sent from background threads as Twilio sends them."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

import requests
from twilio.request_validator import RequestValidator

from devtools.sandbox.store import SandboxStore

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
# The first attempt plus two retries; then the callback is dropped and logged, as Twilio does.
RETRY_DELAYS = (0.1, 0.5)
# Bounds what one slow receiver can hold up; Twilio itself gives a webhook 15 s.
POST_TIMEOUT = 15.0
# Keeps a runaway TwiML document from bloating the store.
MAX_TWIML_CHARS = 20_000

Job = Callable[["CallbackDispatcher"], None]


@dataclass(frozen=True)
class Delivery:
    """How one callback ended: whether the receiver took it, its last status, and its body."""

    delivered: bool
    http_status: int | None
    body: str | None


class CallbackDispatcher:
    """A queue of jobs and the threads that run them, started in whichever process submits."""

    def __init__(self, store: SandboxStore, auth_token: str, threads: int = 4) -> None:
        self.store = store
        self.validator = RequestValidator(auth_token)
        self.threads = threads
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue[Job] = queue.Queue()
        self._local = threading.local()

    def submit(self, job: Job) -> None:
        """Queue a job; it runs after the request that submitted it has answered."""
        self._ensure_started()
        self._queue.put(job)

    def pending(self) -> int:
        """Jobs waiting for a thread in this process."""
        return self._queue.qsize()

    def _ensure_started(self) -> None:
        # gunicorn forks workers after the app exists, so threads start lazily in each worker.
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.Queue()
            for number in range(self.threads):
                thread = threading.Thread(
                    target=self._work, name=f"sandbox-callbacks-{number}", daemon=True
                )
                thread.start()
            self._pid = os.getpid()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                job(self)
            except Exception:
                # A broken job must not kill the thread that serves every later callback.
                log.exception("sandbox callback job failed")

    def post(self, resource_sid: str, kind: str, url: str, params: dict[str, str]) -> Delivery:
        """POST signed form params to url, retrying twice; say how it ended."""
        signature = self.validator.compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"}
        session = self._session()
        error: str | None = None
        http_status: int | None = None
        attempts = 0
        for delay in (0.0, *RETRY_DELAYS):
            if delay:
                time.sleep(delay)
            attempts += 1
            try:
                response = session.post(url, data=params, headers=headers, timeout=POST_TIMEOUT)
            except requests.RequestException as exc:
                error, http_status = str(exc), None
                continue
            http_status = response.status_code
            if response.ok:
                self._record(resource_sid, kind, url, params, "delivered", http_status, attempts)
                return Delivery(True, http_status, _text(response))
            error = f"HTTP {http_status}"
        log.warning("dropped %s callback for %s to %s: %s", kind, resource_sid, url, error)
        self._record(resource_sid, kind, url, params, "dropped", http_status, attempts, error)
        return Delivery(False, http_status, None)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            # Kept per thread: keep-alive to the app matters when 100k callbacks go out.
            session = requests.Session()
            self._local.session = session
        return session

    def _record(
        self,
        resource_sid: str,
        kind: str,
        url: str,
        params: dict[str, str],
        outcome: str,
        http_status: int | None,
        attempts: int,
        error: str | None = None,
    ) -> None:
        self.store.record_callback(
            {
                "resource_sid": resource_sid,
                "kind": kind,
                "url": url,
                "params": params,
                "outcome": outcome,
                "http_status": http_status,
                "attempts": attempts,
                "error": error,
                "created_at": time.time(),
            }
        )


def _text(response: requests.Response) -> str:
    """The body as text; TwiML with no declared charset is UTF-8 (XML's default), not Latin-1."""
    if "charset" in response.headers.get("Content-Type", "").lower():
        return response.text
    return response.content.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class MessageDelivery:
    """A message's way after it was accepted: `sent`, then delivered or failed."""

    sid: str
    account_sid: str
    to: str
    from_: str
    status_callback: str
    final_status: str
    error_code: int | None

    def __call__(self, dispatcher: CallbackDispatcher) -> None:
        """Advance the stored status and report each step to the StatusCallback URL."""
        # A message that failed outright was never sent; an undelivered one was.
        steps = [] if self.final_status == "failed" else ["sent"]
        steps.append(self.final_status)
        for status in steps:
            error_code = self.error_code if status in ("failed", "undelivered") else None
            dispatcher.store.update_message(self.sid, status, error_code, time.time())
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": API_VERSION,
                "From": self.from_,
                "MessageSid": self.sid,
                "MessageStatus": status,
                "SmsSid": self.sid,
                "SmsStatus": status,
                "To": self.to,
            }
            if error_code is not None:
                params["ErrorCode"] = str(error_code)
            dispatcher.post(self.sid, "message-status", self.status_callback, params)


@dataclass(frozen=True)
class CallProgress:
    """A call's way after it was accepted: ring, answer (fetching its TwiML), hang up."""

    sid: str
    account_sid: str
    to: str
    from_: str
    url: str | None
    status_callback: str | None
    events: tuple[str, ...]
    final_status: str
    answered_by: str
    duration: int

    def __call__(self, dispatcher: CallbackDispatcher) -> None:
        """Report the requested progress events and fetch the TwiML once if answered."""
        sequence = 0

        def report(event: str, status: str, extra: dict[str, str]) -> None:
            nonlocal sequence
            if self.status_callback is None or event not in self.events:
                return
            params = {
                **self._base_params(status),
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(sequence),
                "Timestamp": formatdate(usegmt=True),
                **extra,
            }
            sequence += 1
            dispatcher.post(self.sid, "call-status", self.status_callback, params)

        report("initiated", "initiated", {})
        dispatcher.store.update_call(self.sid, status="ringing", updated_at=time.time())
        report("ringing", "ringing", {})
        if self.final_status != "completed":
            dispatcher.store.update_call(
                self.sid, status=self.final_status, duration=0, updated_at=time.time()
            )
            report("completed", self.final_status, {"CallDuration": "0"})
            return
        answered = {"AnsweredBy": self.answered_by}
        dispatcher.store.update_call(
            self.sid, status="in-progress", answered_by=self.answered_by, updated_at=time.time()
        )
        report("answered", "in-progress", answered)
        if self.url is not None:
            self._fetch_twiml(dispatcher)
        dispatcher.store.update_call(
            self.sid, status="completed", duration=self.duration, updated_at=time.time()
        )
        report("completed", "completed", {"CallDuration": str(self.duration), **answered})

    def _fetch_twiml(self, dispatcher: CallbackDispatcher) -> None:
        """POST the voice webhook once, as Twilio does on answer, and keep what it returned."""
        assert self.url is not None
        params = {**self._base_params("in-progress"), "AnsweredBy": self.answered_by}
        result = dispatcher.post(self.sid, "voice-url", self.url, params)
        dispatcher.store.update_call(
            self.sid,
            twiml=None if result.body is None else result.body[:MAX_TWIML_CHARS],
            url_status=result.http_status,
            updated_at=time.time(),
        )

    def _base_params(self, status: str) -> dict[str, str]:
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": self.sid,
            "CallStatus": status,
            "Called": self.to,
            "Caller": self.from_,
            "Direction": "outbound-api",
            "From": self.from_,
            "To": self.to,
        }


__all__ = ["CallProgress", "CallbackDispatcher", "MessageDelivery"]
