"""check_json_depth(data, max_depth): refuse deeply nested JSON before json.loads sees it.

``json.loads`` recurses once per nesting level: a 200,000-deep array raises RecursionError
deep inside the decoder. This check runs in C-speed passes (a regex drops string literals,
``bytes.translate`` keeps the brackets) and a single count over what is left.
"""

import re
from itertools import accumulate

# Well above what any agent message needs (a heartbeat nests 4 levels).
MAX_JSON_DEPTH = 32

# A JSON string literal: possessive, so a long string costs one linear pass.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


class JsonTooDeepError(ValueError):
    """The document nests arrays and objects deeper than allowed."""


def json_depth(data: bytes | str) -> int:
    """Return how deeply ``data`` nests arrays and objects (0 for a scalar)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    steps = (1 if b in _OPENERS else -1 for b in brackets)
    return max(accumulate(steps, initial=0))


def check_json_depth(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise JsonTooDeepError when ``data`` nests deeper than ``max_depth``."""
    if json_depth(data) > max_depth:
        raise JsonTooDeepError(f"JSON nests deeper than {max_depth} levels")
