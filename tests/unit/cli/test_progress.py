import io

from kvmcloud.cli.progress import ProgressDisplay


def test_plain_lines_are_printed_once_per_five_percent_step() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, ["pool"], redraw=False)

    for percent in (0, 1, 4, 5, 9, 10, 99, 100):
        display.update(0, percent)
    display.finish(0, "done")

    assert stream.getvalue().splitlines() == [
        "pool: 0%",
        "pool: 5%",
        "pool: 10%",
        "pool: 99%",
        "pool: 100%",
        "pool: done",
    ]


def test_redraw_rewrites_the_whole_block_in_place() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, ["a", "long"], redraw=True)

    display.update(0, 150)
    first = stream.getvalue()
    display.finish(1, "failed (534: bad)")

    assert "\x1b[" not in first.split("\r\x1b[2K", 1)[0]  # nothing to move over yet
    assert first.count("\n") == 2
    assert stream.getvalue()[len(first) :] == (
        "\x1b[2A"
        "\r\x1b[2Ka    [##############################] 100%\n"
        "\r\x1b[2Klong [------------------------------]   0% failed (534: bad)\n"
    )
