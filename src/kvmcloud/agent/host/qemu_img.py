"""QemuImg: ``qemu-img info`` → ImageInfo (parsed by a pure function) and ``qemu-img create``."""

import json
from dataclasses import dataclass
from pathlib import Path

from kvmcloud.agent.host import commands
from kvmcloud.agent.host.commands import RunCommand

QEMU_IMG_TIMEOUT_S = 60.0


class QemuImgOutputError(ValueError):
    """qemu-img printed something that is not the JSON we expect."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageInfo:
    """What qemu-img found in an image file.

    ``data_file`` is the external data file of a qcow2 image; like a backing file it makes
    the image read another file on the host, so callers treat both the same way.
    """

    format: str
    virtual_size_bytes: int
    actual_size_bytes: int | None
    backing_file: str | None
    data_file: str | None = None
    corrupt: bool = False
    backing_format: str | None = None


def parse_image_info(text: str | bytes) -> ImageInfo:
    """Parse the output of ``qemu-img info --output=json``.

    Raises:
        QemuImgOutputError: the text is not JSON of the expected shape.
    """
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise QemuImgOutputError(f"qemu-img info did not print JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise QemuImgOutputError("qemu-img info printed JSON that is not an object")
    image_format = data.get("format")
    virtual_size = data.get("virtual-size")
    if not isinstance(image_format, str) or not image_format:
        raise QemuImgOutputError("qemu-img info output has no 'format'")
    if not isinstance(virtual_size, int) or not _is_size(virtual_size):
        raise QemuImgOutputError("qemu-img info output has no valid 'virtual-size'")
    actual_size = data.get("actual-size")
    backing = data.get("full-backing-filename") or data.get("backing-filename")
    backing_format = data.get("backing-filename-format")
    specific = data.get("format-specific")
    specific_data = specific.get("data") if isinstance(specific, dict) else None
    if not isinstance(specific_data, dict):
        specific_data = {}
    data_file = specific_data.get("data-file")
    return ImageInfo(
        format=image_format,
        virtual_size_bytes=virtual_size,
        actual_size_bytes=actual_size if _is_size(actual_size) else None,
        backing_file=str(backing) if backing else None,
        data_file=str(data_file) if data_file else None,
        corrupt=specific_data.get("corrupt") is True,
        backing_format=backing_format if isinstance(backing_format, str) else None,
    )


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class QemuImg:
    """The qemu-img operations the agent needs, run through ``commands.run``."""

    def __init__(
        self,
        run: RunCommand | None = None,
        *,
        program: str = "qemu-img",
        timeout_s: float = QEMU_IMG_TIMEOUT_S,
    ) -> None:
        # Looked up at construction, not at import, so the test suite's guard on
        # commands.run also covers a QemuImg built with the default.
        self._run: RunCommand = run if run is not None else commands.run
        self._program = program
        self._timeout_s = timeout_s

    def info(self, path: Path | str) -> ImageInfo:
        """Inspect ``path`` without opening its backing chain.

        ``-U`` (force share) lets us read an image another process holds open; qemu-img
        info never follows the backing file, so a hostile image cannot make it read one.

        Raises:
            commands.CommandError: qemu-img failed, timed out or is missing.
            QemuImgOutputError: its output could not be understood.
        """
        result = self._run(
            [self._program, "info", "--output=json", "-U", str(path)],
            timeout_s=self._timeout_s,
        )
        return parse_image_info(result.stdout)

    def create(
        self,
        path: Path | str,
        *,
        size_bytes: int | None,
        backing: Path | str | None = None,
        backing_format: str | None = None,
    ) -> None:
        """Create a qcow2 image at ``path``: an overlay on ``backing``, or blank.

        An overlay without ``size_bytes`` takes its backing file's virtual size. The
        backing format is always given (``-F``) so qemu-img never probes it: a raw image
        whose bytes look like qcow2 must stay raw.

        Raises:
            ValueError: a blank image without a size, or a backing file without a format.
            commands.CommandError: qemu-img failed, timed out or is missing.
        """
        argv = [self._program, "create", "-q", "-f", "qcow2"]
        if backing is not None:
            if backing_format is None:
                raise ValueError("an overlay needs the backing file's format")
            argv += ["-b", str(backing), "-F", backing_format]
        elif size_bytes is None:
            raise ValueError("a blank image needs a size")
        argv.append(str(path))
        if size_bytes is not None:
            argv.append(str(size_bytes))
        self._run(argv, timeout_s=self._timeout_s)
