"""CommandRegistry: commands by id, run once each, long ones in threads; bounded memory."""

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from kvmcloud.agent.handlers import Execution
from kvmcloud.protocol.agent_messages import (
    Answer,
    Command,
    CommandEnvelope,
    CommandState,
    CommandStatus,
    ErrorInfo,
)
from kvmcloud.protocol.error_codes import ErrorCode

logger = logging.getLogger(__name__)

Executor = Callable[[Command, Execution], Answer]

DEFAULT_MAX_FINISHED = 1000
DEFAULT_MAX_RUNNING = 64


class RegistryClosedError(Exception):
    """The agent is shutting down and takes no new commands."""


class RegistryFullError(Exception):
    """Too many commands are running; the server should retry later."""


@dataclass(slots=True)
class _Entry:
    id: str
    command: Command
    state: CommandState = CommandState.RUNNING
    bytes_done: int = 0
    bytes_total: int | None = None
    answer: Answer | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def status(self) -> CommandStatus:
        return CommandStatus(
            id=self.id,
            state=self.state,
            bytes_done=self.bytes_done,
            bytes_total=self.bytes_total,
            answer=self.answer,
        )


class CommandRegistry:
    """Runs each command id at most once and remembers the latest outcomes.

    A repeated submit of a known id returns its current status and starts nothing: the
    server may resend a command after a timeout without causing a second download.
    Short commands run in the caller's thread; ``LONG`` ones in a worker thread. At most
    ``max_running`` run at once and the last ``max_finished`` outcomes are kept.
    """

    def __init__(
        self,
        execute: Executor,
        *,
        max_finished: int = DEFAULT_MAX_FINISHED,
        max_running: int = DEFAULT_MAX_RUNNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._execute = execute
        self._max_finished = max_finished
        self._max_running = max_running
        self._clock = clock
        self._changed = threading.Condition()
        self._entries: dict[str, _Entry] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._closed = False

    def submit(self, envelope: CommandEnvelope) -> CommandStatus:
        """Start the command unless its id is known; return its status.

        Raises:
            RegistryClosedError: the agent is shutting down.
            RegistryFullError: ``max_running`` commands are already running.
        """
        with self._changed:
            existing = self._entries.get(envelope.id)
            if existing is not None:
                if existing.command != envelope.command:
                    logger.warning("command %s resent with a different body; ignored", envelope.id)
                return existing.status()
            if self._closed:
                raise RegistryClosedError("the agent is shutting down")
            running = len(self._entries) - len(self._finished)
            if running >= self._max_running:
                raise RegistryFullError(f"{running} commands are already running")
            entry = _Entry(id=envelope.id, command=envelope.command)
            self._entries[entry.id] = entry
            if envelope.command.LONG:
                entry.thread = threading.Thread(
                    target=self._run, args=(entry,), name=f"command-{entry.id}", daemon=True
                )
                entry.thread.start()
                return entry.status()
        self._run(entry)
        with self._changed:
            return entry.status()

    def status(self, command_id: str) -> CommandStatus | None:
        """Return the command's status, or None if the id is unknown (or long forgotten)."""
        with self._changed:
            entry = self._entries.get(command_id)
            return entry.status() if entry is not None else None

    def wait(self, command_id: str, timeout_s: float) -> CommandStatus | None:
        """Wait up to ``timeout_s`` for the command to finish; return its status then.

        Returns early, still RUNNING, when the registry is closed, so long polls do not
        hold up a shutdown.
        """
        deadline = self._clock() + timeout_s
        with self._changed:
            entry = self._entries.get(command_id)
            # Bounded: each pass waits until the deadline, which only moves closer.
            while entry is not None and entry.state is CommandState.RUNNING and not self._closed:
                remaining_s = deadline - self._clock()
                if remaining_s <= 0:
                    break
                self._changed.wait(remaining_s)
            return entry.status() if entry is not None else None

    def close(self) -> None:
        """Refuse new commands, cancel running ones and wake every waiter."""
        with self._changed:
            self._closed = True
            for entry in self._entries.values():
                if entry.state is CommandState.RUNNING:
                    entry.cancel.set()
            self._changed.notify_all()

    def join(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for worker threads to end; True if all did."""
        deadline = self._clock() + timeout_s
        with self._changed:
            threads = [e.thread for e in self._entries.values() if e.thread is not None]
        for thread in threads:
            thread.join(max(0.0, deadline - self._clock()))
        return not any(thread.is_alive() for thread in threads)

    def _run(self, entry: _Entry) -> None:
        execution = Execution(
            command_id=entry.id,
            cancel=entry.cancel,
            progress=lambda done, total: self._record_progress(entry, done, total),
        )
        answer: Answer | None = None
        try:
            answer = self._execute(entry.command, execution)
        finally:
            if answer is None:
                # execute() is the catch-all and does not raise; if it ever does, the
                # command must still end, and the exception reaches the thread's hook.
                answer = Answer(
                    ok=False,
                    error=ErrorInfo(code=ErrorCode.INTERNAL, message="command ended abnormally"),
                )
            self._finish(entry, answer)

    def _record_progress(self, entry: _Entry, bytes_done: int, bytes_total: int | None) -> None:
        with self._changed:
            entry.bytes_done = bytes_done
            entry.bytes_total = bytes_total

    def _finish(self, entry: _Entry, answer: Answer) -> None:
        with self._changed:
            entry.answer = answer
            entry.state = CommandState.DONE
            self._finished[entry.id] = None
            while len(self._finished) > self._max_finished:
                oldest, _ = self._finished.popitem(last=False)
                self._entries.pop(oldest, None)
            self._changed.notify_all()
