"""The `Outbox` interface: pushes waiting to be sent, kept until they are.

A push is enqueued as a job; workers :meth:`~Outbox.claim` due jobs, send them, and then
:meth:`~Outbox.complete`, :meth:`~Outbox.retry` or :meth:`~Outbox.drop` each one.

Contract (every implementation; ``tests/push/test_outbox_contract.py`` checks it):

* **Durable**: a job enqueued stays until completed or dropped, across restarts
  (durable implementations).
* **At least once**: a claim leases a job for ``lease`` seconds; a job neither completed,
  retried nor dropped by then is due again, so a worker that crashed mid-send does not
  lose it. A job is claimed by one claimer at a time while its lease runs.
* **Fenced**: complete, retry and drop act only through the lease of the latest claim,
  and return False when that lease has been superseded.
* **Collapsed**: jobs have a key, the device token and the message's collapse key. A
  message enqueued while a job of its key waits unclaimed replaces that job's message:
  the device would only show the newest one anyway.
* **Deduplicated**: a message identical to one of its key that is waiting, in flight, or
  was completed less than ``dedupe_window`` seconds ago is not enqueued again, so a
  retried enqueue does not produce a second push.
* **Ordered by due time**: claim returns due jobs, earliest due first.
* **Owed pushes are discharged once**: a message's store commit writes, in the same
  transaction, a record that a push of it is owed (an :class:`OwedPush`, table
  ``push_owed`` of the same database). :meth:`~Outbox.discharge` forgets that record
  and enqueues the jobs decided for it in one transaction; of two discharges of one
  record, only the first enqueues anything. Records never discharged (their node died
  between the commit and the discharge) are listed by :meth:`~Outbox.owed`.

Times are seconds on a clock the caller passes in (``now``, ``at``), the same clock for
every node sharing an outbox.
"""

from __future__ import annotations

import abc
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from push.messages import PushMessage

DEFAULT_LEASE = 60.0
"""Seconds a claimed job stays invisible to other claimers: longer than a send can take."""

DEFAULT_DEDUPE_WINDOW = 300.0


@dataclass(frozen=True, slots=True)
class PushJob:
    """A claimed job: its message, and the lease through which to settle it."""

    id: int
    message: PushMessage
    attempt: int
    """How many times the job has been claimed, this claim included (1 on the first)."""
    lease: str
    enqueued_at: float


@dataclass(frozen=True, slots=True)
class OwedPush:
    """A committed message whose push was not yet decided: its position, where it is,
    and its timestamp (epoch ms)."""

    pos: int
    thread: str
    seq: int
    ts: int


def job_key(message: PushMessage) -> str | None:
    """The key under which ``message`` collapses and is deduplicated (None: never)."""
    if message.collapse_key is None:
        return None
    return f"{message.token}\x1f{message.collapse_key}"


def message_digest(message: PushMessage) -> str:
    """A fingerprint of everything ``message`` says, to recognise a retried enqueue."""
    encoded = json.dumps(message.to_json(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8", "replace")).hexdigest()[:32]


def announces(message: PushMessage, thread: str, seq: int) -> bool:
    """Whether ``message`` is the push of chat message ``seq`` of ``thread``."""
    data = message.data
    return (data.get("kind") == "message" and data.get("thread") == thread
            and data.get("seq") == str(seq))


def seq_pattern(seq: int) -> str:
    """A LIKE pattern that every encoded push of a message ``seq`` matches (and few
    others): :func:`encode_message` writes ``"seq":"<seq>"`` without spaces."""
    return f'%"seq":"{seq}"%'


def encode_message(message: PushMessage) -> str:
    return json.dumps(message.to_json(), ensure_ascii=False, separators=(",", ":"))


def decode_message(text: str) -> PushMessage:
    return PushMessage.from_json(json.loads(text))


class Outbox(abc.ABC):
    """Pushes waiting to be sent. See the module docstring for the contract."""

    lease: float
    dedupe_window: float

    async def open(self) -> None:  # noqa: B027 - the memory outbox holds nothing to open
        """Connect and create the outbox's table if needed. Call once, before anything else."""

    async def close(self) -> None:  # noqa: B027
        """Release connections. Idempotent."""

    @abc.abstractmethod
    async def enqueue(self, messages: Sequence[PushMessage], now: float) -> int:
        """Add ``messages`` as jobs due at ``now``, durably before returning. Returns how
        many were accepted (new or replacing a waiting job), not counting duplicates."""

    @abc.abstractmethod
    async def claim(self, limit: int, now: float) -> list[PushJob]:
        """Lease up to ``limit`` jobs due at ``now`` until ``now + lease``."""

    @abc.abstractmethod
    async def complete(self, job: PushJob, now: float) -> bool:
        """The job was sent: forget it (keeping its fingerprint for the dedupe window)."""

    @abc.abstractmethod
    async def retry(self, job: PushJob, at: float) -> bool:
        """Give the job back, due again at ``at``."""

    @abc.abstractmethod
    async def drop(self, job: PushJob) -> bool:
        """The job will never be sent: forget it."""

    @abc.abstractmethod
    async def discharge(self, pos: int, messages: Sequence[PushMessage], now: float) -> bool:
        """Forget the owed push of the message at ``pos`` and enqueue ``messages`` (none:
        every recipient was live, or has no device), in one transaction. False, and
        nothing enqueued, when no such record is left: discharged already."""

    @abc.abstractmethod
    async def owed(self, until_ms: int, limit: int) -> list[OwedPush]:
        """Up to ``limit`` owed pushes of messages stamped at or before ``until_ms``,
        oldest first."""

    @abc.abstractmethod
    async def withdraw(self, thread: str, seq: int) -> int:
        """Chat message ``seq`` of ``thread`` was unsent: forget its owed push and every
        job announcing it, waiting, leased or kept for dedupe (a leased job's settling
        then fails as superseded; a send already under way cannot be called back).
        Returns how many jobs went."""

    @abc.abstractmethod
    async def depth(self) -> int:
        """Jobs not yet completed or dropped."""

    @abc.abstractmethod
    async def oldest_age(self, now: float) -> float:
        """Seconds since the oldest job not yet completed or dropped was enqueued (0: none)."""
