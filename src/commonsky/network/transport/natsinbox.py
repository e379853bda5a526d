"""The receiving half of a NATS link: pulls from each sender's durable consumer, within quotas, checked, de-duplicated.

Bounds on import (the receiver protects itself; a partner cannot exhaust its memory or CPU):
each pull asks for at most `batch` messages and at most `FETCH_MAX_BYTES` bytes (the server stops
there); a token bucket per sender caps messages per second and bytes per second across fetches
(`Limits.max_messages_per_s`, `burst_messages`, `max_bytes_per_s`): a sender over its quota is
not read until its bucket refills, and `throttled` names it with the reason. Every message is
unsealed, decoded and checked against the subject it came on; a track batch of more than
`max_rows_per_batch` rows is refused. A message stays unacked until the caller says it has been
processed (`ack`), and `applied` drops anything already applied: at most once into the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Iterable
from typing import Any, Protocol

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from commonsky.core.errors import DecodeError
from commonsky.network.transport.base import PartnerMonitor, SeqTracker, check_partner_id, split_subject
from commonsky.network.transport.messages import Message, TrackBatch, decode
from commonsky.network.transport.natsconfig import Limits, durable_name, inbound_stream
from commonsky.network.transport.seal import SEAL_HEADER, SEAL_SCHEME, Sealer, SealError

FETCH_MAX_BYTES = 32 * 1024 * 1024
"""Most bytes one pull asks for from one sender (the server stops there)."""
THROTTLE_SHOWN_S = 5.0
"""A sender stays `throttled` this long after its quota last held it back."""


class Connection(Protocol):
    """What the inbox needs of its link: the client now, whether the link is up, where errors are told."""

    @property
    def nc(self) -> Client: ...

    @property
    def connected(self) -> bool: ...

    def note_error(self, error: str) -> None: ...


class TokenBucket:
    """`rate` tokens a second, at most `capacity` saved up; starts full."""

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens = capacity
        self.stamp = time.monotonic()

    def available(self) -> float:
        """Tokens available now (refilled for the time since the last look)."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return self.tokens

    def take(self, amount: float) -> None:
        """Spend `amount` tokens (may go below zero: the next ones wait longer)."""
        self.available()
        self.tokens -= amount


def _key(message: Message) -> tuple[str, str, int]:
    return (message.sender, message.KIND, message.seq)


def _status(m: Msg) -> str | None:
    """The JetStream status code of a pull reply (None for a stored message)."""
    if m.headers and "Status" in m.headers:
        return str(m.headers["Status"])
    return None


class Inbox:
    """What `partner` receives from each of `senders` over `link`: fetched, checked, held until acked."""

    def __init__(
        self,
        link: Connection,
        partner: str,
        senders: tuple[str, ...],
        limits: Limits,
        *,
        api: str,
        sealer: Sealer | None,
        applied: SeqTracker,
    ) -> None:
        self.link = link
        self.partner, self.senders, self.limits = partner, senders, limits
        self.applied = applied
        self.monitor = PartnerMonitor()
        self.rejected: list[DecodeError] = []
        """Messages refused on fetch (undecodable, not on the sender's subject, too many rows); terminated."""
        self.duplicates = 0
        """Redelivered messages dropped because they were already applied."""
        self._api = api
        self._sealer = sealer
        """End-to-end sealing (`seal`): when set, every message in must be sealed by its sender."""
        self._pulls: dict[str, tuple[str, Subscription]] = {}
        self._pending: dict[tuple[str, str, int], Msg] = {}
        per_s, burst = limits.max_messages_per_s, float(limits.burst_messages)
        self._msg_quota = {s: TokenBucket(per_s, burst) for s in senders}
        self._byte_quota = {s: TokenBucket(limits.max_bytes_per_s, 10 * limits.max_bytes_per_s) for s in senders}
        self._throttled: dict[str, tuple[float, str]] = {}

    def throttled(self) -> dict[str, str]:
        """Senders held back by their quota just now, with the reason."""
        now = time.monotonic()
        return {s: reason for s, (at, reason) in self._throttled.items() if now - at <= THROTTLE_SHOWN_S}

    def forget_pulls(self) -> None:
        """Drop the pull subscriptions (their client is gone); the next fetch makes new ones."""
        self._pulls.clear()

    async def give_back(self) -> None:
        """Nak every fetched but unacked message (redelivered at once on the next fetch); the link must be up."""
        for m in self._pending.values():
            with contextlib.suppress(Exception):
                await m.nak()

    def reset(self) -> None:
        """Forget the held messages and the pull subscriptions (the link is closing)."""
        self._pending.clear()
        self._pulls.clear()

    async def _pull(self, sender: str) -> tuple[str, Subscription]:
        """The request subject and reply subscription of pulls from `sender`'s inbound durable."""
        pull = self._pulls.get(sender)
        if pull is None:
            nms = f"{self._api}.CONSUMER.MSG.NEXT.{inbound_stream(sender)}.{durable_name(self.partner, sender)}"
            inbox = self.link.nc.new_inbox()
            sub = await self.link.nc.subscribe(inbox, pending_bytes_limit=2 * FETCH_MAX_BYTES)
            pull = self._pulls[sender] = (nms, sub)
        return pull

    def _quota(self, sender: str, batch: int) -> tuple[int, int]:
        """(messages, bytes) `sender`'s quota lets this fetch take; (0, 0) and `throttled` set when none."""
        messages = min(batch, math.floor(self._msg_quota[sender].available()))
        max_bytes = min(FETCH_MAX_BYTES, math.floor(self._byte_quota[sender].available()))
        if messages < 1 or max_bytes < self.limits.max_batch_bytes:
            limit = (
                f"{self.limits.max_messages_per_s:g} messages/s"
                if messages < 1
                else f"{self.limits.max_bytes_per_s / 1024**2:g} MiB/s"
            )
            self._throttled[sender] = (time.monotonic(), f"over quota: more than {limit}")
            return 0, 0
        return messages, max_bytes

    async def fetch(self, sender: str, batch: int = 100, timeout_s: float = 1.0) -> list[Message]:
        """Up to `batch` new messages from `sender`, oldest first; [] if none came within `timeout_s`,
        if the link is down, or if `sender` is over its quota (`NatsTransport.fetch`)."""
        check_partner_id(sender)
        if sender not in self._msg_quota:
            raise ValueError(f"{sender!r} is not among the partners {self.partner} receives from {self.senders}")
        if not self.link.connected:
            await asyncio.sleep(timeout_s)
            return []
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0.005:
            count, max_bytes = self._quota(sender, batch)
            if count == 0:
                await asyncio.sleep(remaining)
                return []
            try:
                msgs = await self._fetch_raw(sender, count, max_bytes, remaining)
            except (nats.errors.Error, OSError) as exc:
                self.link.note_error(f"fetch from {sender}: {exc}")
                return []
            self._msg_quota[sender].take(len(msgs))
            self._byte_quota[sender].take(sum(len(m.data) for m in msgs))
            out = await self._accept(sender, msgs)
            if out or not msgs:
                return out
            # everything fetched was a duplicate or refused: look again while time is left
        return []

    async def _fetch_raw(self, sender: str, count: int, max_bytes: int, timeout_s: float) -> list[Msg]:
        """Up to `count` messages and `max_bytes` from `sender`'s durable, returned as soon as any are in.

        What is waiting is taken at once (a no-wait pull); when nothing is, one message is waited for
        (a pull of one, expiring within `timeout_s`), then whatever came behind it (no-wait again):
        a batch is passed on the moment it arrives, not when a long pull expires.
        """
        nms, sub = await self._pull(sender)
        got: list[Msg] = []
        while True:  # messages of an earlier pull that arrived after it gave up are still good
            try:
                m = sub._pending_queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            sub._pending_size -= len(m.data)
            if m.reply and not _status(m):
                got.append(m)
        deadline = time.monotonic() + timeout_s
        if len(got) < count:
            got += await self._pull_once(nms, sub, count - len(got), max_bytes, deadline, wait=False)
        if not got:
            got = await self._pull_once(nms, sub, 1, max_bytes, deadline, wait=True)
            if got and count > 1:
                got += await self._pull_once(nms, sub, count - 1, max_bytes - len(got[0].data), deadline, wait=False)
        return got

    async def _pull_once(
        self, nms: str, sub: Subscription, count: int, max_bytes: int, deadline: float, *, wait: bool
    ) -> list[Msg]:
        """One pull request and what came for it: no-wait (ends with the server's 404 when fewer are
        stored), or waiting (expires just before `deadline`)."""
        request: dict[str, Any] = {"batch": count, "max_bytes": max(1, max_bytes)}
        if wait:
            request["expires"] = max(1_000_000, int((deadline - time.monotonic() - 0.002) * 1e9))
        else:
            request["no_wait"] = True  # with `expires` the server would ignore it
        await self.link.nc.publish(nms, json.dumps(request).encode(), reply=sub.subject)
        got: list[Msg] = []
        while len(got) < count and (remaining := deadline - time.monotonic()) > 0:
            try:
                m = await sub.next_msg(timeout=remaining)
            except nats.errors.TimeoutError:
                break
            status = _status(m)
            if status == "100":  # idle heartbeat
                continue
            if status is not None:  # 404 no messages, 408 expired, 409 max bytes or other end of this pull
                break
            got.append(m)
        return got

    async def _accept(self, sender: str, msgs: list[Msg]) -> list[Message]:
        """Decode, check and de-duplicate fetched messages; the new ones are held for `ack`."""
        out: list[Message] = []
        for m in msgs:
            offset = m.metadata.sequence.stream if m.reply else 0
            try:
                subj_sender, kind, receiver = split_subject(m.subject)
                message = decode(self._unseal(subj_sender, m, offset), source=m.subject, offset=offset)
                if (
                    message.sender != subj_sender
                    or subj_sender != sender
                    or kind != message.KIND
                    or receiver != self.partner
                ):
                    raise DecodeError(m.subject, offset, f"{message.KIND} from {message.sender!r} on this subject")
                if isinstance(message, TrackBatch) and message.rows > self.limits.max_rows_per_batch:
                    raise DecodeError(
                        m.subject,
                        offset,
                        f"{message.rows} rows, more than the coalition's {self.limits.max_rows_per_batch}",
                    )
            except (DecodeError, ValueError) as exc:
                self.rejected.append(exc if isinstance(exc, DecodeError) else DecodeError(m.subject, offset, str(exc)))
                await m.term()
                continue
            key = _key(message)
            if key in self._pending:
                self._pending[key] = m  # redelivered while we hold it: the caller already has it
                continue
            if self.applied.check(message.sender, kind, message.seq, message.sent_s) == "duplicate":
                self.duplicates += 1
                await m.ack()
                continue
            self._pending[key] = m
            self.monitor.observe_message(message)
            out.append(message)
        return out

    def _unseal(self, sender: str, m: Msg, offset: int) -> bytes:
        """The message `sender` sealed for us (unchanged when this link does not seal); DecodeError otherwise."""
        if self._sealer is None:
            return bytes(m.data)
        if (m.headers or {}).get(SEAL_HEADER) != SEAL_SCHEME:
            raise DecodeError(m.subject, offset, f"not sealed ({SEAL_HEADER}: {SEAL_SCHEME} missing)")
        try:
            return self._sealer.open(sender, m.data)
        except SealError as exc:
            raise DecodeError(m.subject, offset, str(exc)) from None

    async def ack(self, messages: Iterable[Message]) -> None:
        """Mark `messages` processed: applied, and acked on the server (not waited for: an ack lost with
        the connection only means a redelivery, which `applied` then drops)."""
        for message in messages:
            m = self._pending.pop(_key(message), None)
            if m is not None:
                with contextlib.suppress(nats.errors.Error, OSError):
                    await m.ack()
            self.applied.mark(message.sender, message.KIND, message.seq, message.sent_s)

    async def nak(self, messages: Iterable[Message], delay_s: float | None = None) -> None:
        """Give `messages` back unprocessed: the server redelivers them (after `delay_s`)."""
        for message in messages:
            m = self._pending.pop(_key(message), None)
            if m is not None:
                with contextlib.suppress(nats.errors.Error, OSError):
                    await m.nak(delay=delay_s)
