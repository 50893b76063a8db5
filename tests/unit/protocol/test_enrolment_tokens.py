import pytest

from kvmcloud.protocol.enrolment_tokens import EnrolmentToken, TokenFormatError, parse_token

FP = "ab" * 32


def test_round_trip() -> None:
    token = EnrolmentToken(secret="s" * 43, fingerprint=FP)

    assert parse_token(str(token)) == token
    assert parse_token(f"  {'s' * 43}.{FP.upper()} ") == token
    assert "s" * 43 not in repr(token)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "enrol-token",
        f"short.{FP}",
        f"{'s' * 43}.{FP[:-1]}",
        f"{'s' * 43}",
        f"{'s' * 20}+x.{FP}",
    ],
)
def test_malformed_tokens_are_refused(text: str) -> None:
    with pytest.raises(TokenFormatError):
        parse_token(text)
