import pytest

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.json_limits import JsonTooDeepError, check_json_depth, json_depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('"[[[["', 0),
        ("{}", 1),
        ('[1, {"a": [2]}]', 3),
        ('{"a": "\\"[[[", "b": [[]]}', 3),
        ("[[[", 3),
    ],
)
def test_depth_counts_brackets_outside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth
    assert json_depth(text.encode()) == depth


def test_deep_array_is_refused_before_parsing() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000

    with pytest.raises(JsonTooDeepError):
        check_json_depth(deep)
    with pytest.raises(msg.MessageFormatError, match="deeper than"):
        msg.from_json(msg.HeartbeatReply, deep)
    with pytest.raises(msg.MessageFormatError, match="deeper than"):
        msg.command_from_json(deep)


def test_limit_is_inclusive() -> None:
    check_json_depth("[" * 32 + "]" * 32)
    with pytest.raises(JsonTooDeepError):
        check_json_depth("[" * 33 + "]" * 33)
