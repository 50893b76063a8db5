import threading

import pytest

from kvmcloud.agent.command_registry import CommandRegistry, RegistryClosedError, RegistryFullError
from kvmcloud.agent.handlers import Execution
from kvmcloud.protocol.agent_messages import (
    Answer,
    CheckPoolCommand,
    CheckUrlResult,
    Command,
    CommandEnvelope,
    CommandState,
    DirectDownloadCommand,
    PoolSpec,
    PoolType,
)

POOL = PoolSpec(uuid="p", type=PoolType.FILESYSTEM, path="/pool")
SHORT = CheckPoolCommand(pool=POOL)
LONG = DirectDownloadCommand(
    template_uuid="t", url="http://o/t", format="QCOW2", pool=POOL, install_name="t.qcow2"
)
OK = Answer(ok=True, result=CheckUrlResult(physical_size_bytes=1, virtual_size_bytes=1))


class Recorder:
    """An executor that counts runs and, for long commands, waits to be released."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, command: Command, execution: Execution) -> Answer:
        self.runs.append(execution.command_id)
        if command.LONG:
            execution.progress(0, 100)
            execution.progress(40, 100)
            self.started.set()
            # Bounded: released by the test, or cancelled, within 5 s.
            for _ in range(500):
                if self.release.is_set() or execution.cancel.is_set():
                    break
                self.release.wait(0.01)
        return OK


def test_short_command_runs_inline_and_once():
    recorder = Recorder()
    registry = CommandRegistry(recorder)

    first = registry.submit(CommandEnvelope(id="c1", command=SHORT))
    again = registry.submit(CommandEnvelope(id="c1", command=SHORT))

    assert first.state is CommandState.DONE
    assert first.answer == OK
    assert again == first
    assert recorder.runs == ["c1"]


def test_long_command_runs_in_background_once_and_reports_progress():
    recorder = Recorder()
    registry = CommandRegistry(recorder)

    started = registry.submit(CommandEnvelope(id="d1", command=LONG))
    assert started.state is CommandState.RUNNING
    assert recorder.started.wait(5)
    duplicate = registry.submit(CommandEnvelope(id="d1", command=LONG))
    timed_out = registry.wait("d1", 0.01)
    assert timed_out is not None
    recorder.release.set()
    done = registry.wait("d1", 5)
    assert done is not None

    assert duplicate.state is CommandState.RUNNING
    assert (timed_out.state, timed_out.bytes_done, timed_out.bytes_total) == (
        CommandState.RUNNING,
        40,
        100,
    )
    assert done.state is CommandState.DONE
    assert done.answer == OK
    assert recorder.runs == ["d1"]
    assert registry.join(5)


def test_unknown_id_is_none():
    registry = CommandRegistry(Recorder())
    assert registry.status("nope") is None
    assert registry.wait("nope", 0.01) is None


def test_finished_commands_are_bounded():
    registry = CommandRegistry(Recorder(), max_finished=3)

    for n in range(5):
        registry.submit(CommandEnvelope(id=f"c{n}", command=SHORT))

    assert registry.status("c0") is None
    assert registry.status("c1") is None
    assert registry.status("c4") is not None


def test_running_commands_are_bounded():
    recorder = Recorder()
    registry = CommandRegistry(recorder, max_running=1)
    registry.submit(CommandEnvelope(id="d1", command=LONG))

    with pytest.raises(RegistryFullError):
        registry.submit(CommandEnvelope(id="d2", command=LONG))
    recorder.release.set()
    assert registry.join(5)


def test_close_cancels_running_commands_wakes_waiters_and_refuses_new_ones():
    recorder = Recorder()
    registry = CommandRegistry(recorder)
    registry.submit(CommandEnvelope(id="d1", command=LONG))
    assert recorder.started.wait(5)
    woke: list[object] = []
    waiter = threading.Thread(target=lambda: woke.append(registry.wait("d1", 30)))
    waiter.start()

    registry.close()
    waiter.join(5)

    assert not waiter.is_alive()
    assert woke
    assert registry.join(5)
    status = registry.status("d1")
    assert status is not None
    assert status.state is CommandState.DONE
    with pytest.raises(RegistryClosedError):
        registry.submit(CommandEnvelope(id="d2", command=LONG))
    # A known id still answers with its status after close.
    assert registry.submit(CommandEnvelope(id="d1", command=LONG)).state is CommandState.DONE
