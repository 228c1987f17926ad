"""ECQV implicit certificates: layouts, public-key reconstruction, credential checks, issuance.

Known answers from the security test-vector notes §4 (zsmartsystems and ZBOSS test
certificates under the Certicom test CAs; NEG-1..NEG-5 are the ZBOSS corrupted twins) and the
four certificates of the SE specification's own CBKE examples (§5.2 / §5.3).
"""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.crypto.binary_curve import SECT163K1, SECT283K1, BinaryField
from harness.crypto.ecqv import (
    DEFAULT_TEST_ISSUER,
    KEY_USAGE_DIGITAL_SIGNATURE,
    NO_EXPIRY,
    CertificateAuthority,
    CryptoSuite,
    Cs1Certificate,
    Cs2Certificate,
    DeviceCredentials,
    KeyPair,
    certificate_hash,
    complete_request,
    create_request,
    parse_certificate,
    reconstruct_public_key,
)
from harness.crypto.errors import CertificateError, CryptoError, PointFormatError

H = bytes.fromhex

CA_PUB_CS1 = "0200FDE8A7F3D1084224962A4E7C54E69AC3F04DA6B8"
CA_PUB_CS2 = "0207A445022D9F39F49BDC38380026A27A9E0A1799313AB28C5C1A1C6B605154DB1DFF6752"

# (name, cert, priv, pub, e): every certificate of §4.5, §4.6, §5.2 and §5.3.
CERTIFICATES = [
    ("CERT2-A", "000B3AD5A312AB75D60D081112131415161718005B7ED230FFFFFFFF0022080000000001080205BB3D1D1576197FF9AB6563915019A130437ADB0EE7915432DC4A09C97DC595C5856800",
     "00997097B87684F62F555173C47BE89935FBF6440AE292492B54C5829A0D541F4D26E254",
     "02012F082EE7DB1BD3F89F16EABBF5D6221A5DCD077FC0C9D37B329EEE8E2CDAEE03439DE0", "7C7CB652AE79E38ED66D75105C7D9CDF"),
    ("CERT2-B", "00F01DCD3E83AD44B50D08111213141516171800594BFDE0FFFFFFFFAAAAAAAAAAAAAAAA080200E8D52E0F4B95234457875F9D44853F31DC6C7FA5C25086EE9CC2631FEB1030807CD0BF",
     "015AFE6ED0C22946DE7C67AEC5BE7A8C4668A0389B1F6DAE5F4415C56DE38961C0BAA00A",
     "020618D391ED9CE3BCEA60B14FF81FF6E1508A5DF8B304094E6A1C28CF49F548A6C57782E7", "79C271DE6252CCF493DDF6CE0C062AB2"),
    ("CERT2-C", "00B28EAA855E3D238B0D08111213141516171800594BFF79FFFFFFFF0000000000000002080306B4644747D2673D42DE5DA483FC98746086CF506D79DF0D307D4FA7B3451B98CC192EA2",
     "004F316651F7092F12136E8E8A948E86437AF2B354E4E257A9A9C2BE80CF0ED455062FEB",
     "0301B002AAF36E762592946D8C6D34944869491F897CEB40BE275706952447D08BB4E1DF5E", "E033C06F0D3FB605DC9374C5A6257F84"),
    ("CERT2-D", "008E99D80082C5278B0D08111213141516171800595E2A59FFFFFFFF20000000000000000802032ED67F6571E22CB1A0C1ADBD15E34BC102003A714EA34E7309A537F26D1E936DAECFE1",
     "00EFF081369A882AEB53D454633FC813E5AA76A1498A437BEFD7F14A5E3D8B2B1F47E0F0",
     "0306299852B92BD390C0B9D56667E5D5583D8C2BB23FEE6F2B8CEC558EC260ACD5C2A6F7B9", "7BF0382F9AE531684F82FF5EC254BA23"),
    ("CERT2-E", "006CD4EA5002DD01D20D08111213141516171800595E2A92FFFFFFFF20000000000000010803031FECE33D02BF62B735AFFDD9607DA85B98ACF47AE0E9D26BDF41BFBA337CE5F0AB7289",
     "0057E4300D19E57C1A4CDE992EEBD1D1EC2B8C23BB022F0E63C6716F433EFEDCD82B1395",
     "02061C5F0B529F33CC53EB6108D0BD26CD4561FBAECF61CD94975ECE3D9D54B6FE9A192C92", "F90DCAE0F56762C7C190908E18F4B37F"),
    ("CERT2-F", "000DC9EF0D0296930D0D08111213141516171800595E2AC0FFFFFFFF200000000000000200030483CC413CC4D5E29370C3892EE93B7080968D5604A49C24E8CD40089734EB7F1220674F",
     "00CE80A5B07A1E4744AA05C28741E75C7F0D348178543E21C61623A88A8240A46B1F8370",
     "0306799AB348AECBD6A368BFCAE03458A54BD6DE0A56ED10AF265657D7CFC80DC6DE621551", "C4261D3A6CB0F9A71D7D875251052E13"),
    ("CERT2-G", "00E97B210B046EE7A40D08111213141516171800595E2AFCFFFFFFFF2000000000000003000305AE5D320D6906FE101108F689B4E8828446CF0D0E3E2B2A18F8E594CF0B6BD59F795C12",
     "0153C2B5FD03FCB678C6BDA27555D3B79ECE973F0EC81AECDA0F2785D1B08C7573FD648F",
     "0303BC6346D8FAE03307319738E81513BCC497A359BDB9535D9E03E3BB9525F888D6A22222", "4FA31FFBC2613D08C8E88BEE38BD79F5"),
    ("CERT2-H", "00B3D2E33DD89D55F00D08111213141516171800595E2B38FFFFFFFF2000000000000004800203CDF9BCD0EDB73E4958A7B6E9DAAC86B81525045C5035DDD8B2B11273B519993B185BD1",
     "00349E65CF9AEEF9A6FFCA6828ABA508C54DD6BBE16B43752240D448182E7C257687E067",
     "0204DAA724757BF186C0C12C1EEB83AE6E0A07FCFDF30C35DE0F6454C878B258311C86FEAB", "1FABA61740D487E7C11E56078D4B8B6E"),
    ("CERT2-I", "0081928A198035D2860D08111213141516171800595E2B62FFFFFFFF20000000000000058002002C1457E13D3EA3F9250B29A157F3AE0327C4234B24A1F7965A68140522F278BB7F5F8C",
     "01791AE18A79BB8C673222908E610C4AF9FCB8768BAD790377CCD96DEF4F21EAF7AE195C",
     "03066B792E5C006B592DC1C549C5C9918FB7B87A727630F1ED57B83A9EE0891F5B99629772", "ACEB70D97204A42599AC96810A2C937A"),
    ("SE-C.6-responder", "002622A505E8938F270D081112131415161718005292A35BFFFFFFFF0A0B0C0D0E0F1011880303B4E9DC543A64333C982308022B54E67E2F15F532551B0A11E2E2C1C1D3097A4324E7ED",
     "0151CD0DBCB80474BF7AC9FEEBE39C7A32A63518938FCA9754AAE132BC9C73BE94A7E1BE",
     "0202F4FA2A3040433C6820299D182A1042E41404E337C57F47716B42DFAF970F1580A04C9B", "E122DCCC45B301D81043EACFAF15EF4B"),
    ("SE-C.6-initiator", "0084A933B37F018DEC0D081112131415161718005292A38AFFFFFFFF0A0B0C0D0E0F10128803076277E2F7E2252B16A0E92B6E8771BB3F207946CBD4A45D9A9DF6EDAB8C796A48E89DEC",
     "00F2561ADB39EF49C1D62EF5186C6E0C158A5A45BFCE38660931ACC3694592D5ACDE9006",
     "03030E56F7ADE866E76372764BA20A9FF1FE4CAE522F94839E70F2ADFC1CA3E97F4DDCAF2E", "FCC19CE85EDD2ED61B7917ED9B2674C4"),
    ("CERT1-A", "02020882B1D7DF05538F37CDD09A4F6B15368998642B002208000000000154455354534543410109108301234567890A",
     "0392BA4AFC2453A49EEBE9BCA8DE73210F02479A4A", "0207D1CA014786B5E552CFD5F04339A2E856F00EAAEF", "C12775B3D93C34EA4269381F33A27F9D"),
    ("CERT1-B", "0200CAA15B4BEEDE65C3139A5C3BC40C9AD153854A270022A300001731F354455354534543410109108301234567890A",
     "019FCC486FC46980AB4A612725B36F005EDFF075FE", "020366D312A0ABF55654EAD3E1624C31FAED89C3BB20", "F85F49653AF3D9CC27926E1828366CF0"),
    ("SE-C.5-responder", "03045FDFC8D85FFB8B3993CB72DDCAA55F00B3E87D6D0000000000000001544553545345434101090006000000000000",
     "00B8A900FCADEBABBFA383B540FCE9ED438395EAA7", "030290A1F5C08DAD5F2945E335620C7A98FAC46666A1", "6BDBBF16B24A2F91BC1ADE0A33845661"),
    ("SE-C.5-initiator", "020615E07D30ECA2DAD58002E667D94BC1B4223983070000000000000002544553545345434101090006000000000000",
     "01E9DDB5580CF72ECE7F215F0AE594E48DF3E7FEE8", "03025BBA38D0C7B5436B68DF728F093E7A1D6C437E6D", "A94B12FCE2F219CB3B7F3E0318C6C8A0"),
]
CERT = {name: (H(c), H(d), H(q), int(e, 16)) for name, c, d, q, e in CERTIFICATES}


def _ca_for(cert: bytes) -> bytes:
    return H(CA_PUB_CS1) if len(cert) == 48 else H(CA_PUB_CS2)


@pytest.mark.parametrize("name", list(CERT))
def test_certificate_reconstructs_published_key(name: str) -> None:
    cert_bytes, priv, pub, e = CERT[name]
    cert = parse_certificate(cert_bytes)
    assert cert.to_bytes() == cert_bytes
    assert certificate_hash(cert) == e
    curve = cert.SUITE.curve
    assert curve.encode_point(reconstruct_public_key(cert, _ca_for(cert_bytes))) == pub
    credentials = DeviceCredentials.load(cert_bytes, priv, _ca_for(cert_bytes))
    assert credentials.key_pair.public_bytes == pub
    assert credentials.eui64 == cert.subject


def test_cs2_fields_are_decoded_at_their_offsets() -> None:
    cert = parse_certificate(CERT["CERT2-A"][0])
    assert isinstance(cert, Cs2Certificate)
    assert cert.cert_type == 0x00
    assert cert.serial == H("0B3AD5A312AB75D6")
    assert (cert.curve_id, cert.hash_id) == (0x0D, 0x08)
    assert cert.issuer == H("1112131415161718")
    assert datetime.fromtimestamp(cert.valid_from, UTC) == datetime(2018, 8, 23, 15, 26, 40, tzinfo=UTC)
    assert cert.valid_to == NO_EXPIRY
    assert cert.subject == H("0022080000000001")
    assert cert.key_usage == 0x08
    assert cert.reconstruction_point == CERT["CERT2-A"][0][37:]
    assert "serial=0B3AD5A312AB75D6" in repr(cert)


def test_cs1_fields_are_decoded_at_their_offsets() -> None:
    cert = parse_certificate(CERT["CERT1-A"][0])
    assert isinstance(cert, Cs1Certificate)
    assert cert.reconstruction_point == H("02020882B1D7DF05538F37CDD09A4F6B15368998642B")
    assert cert.subject == H("0022080000000001")
    assert cert.issuer == b"TESTSECA"
    assert cert.profile_data == H("0109108301234567890A")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(bytes(47), "neither CS1 \\(48\\) nor CS2 \\(74\\)", id="unknown-length"),
        pytest.param(H("05") + CERT["CERT1-A"][0][1:], "'reconstruction_point' \\(offset 0\\): format byte 0x05", id="cs1-bad-point-format"),
        pytest.param(CERT["CERT2-A"][0][:37] + H("12") + CERT["CERT2-A"][0][38:], "offset 37.*0x12", id="cs2-bad-point-format"),
    ],
)
def test_malformed_certificate_is_refused_naming_the_field(data: bytes, message: str) -> None:
    with pytest.raises(CertificateError, match=message):
        parse_certificate(data)


def test_certificate_of_the_wrong_suite_length_is_refused() -> None:
    with pytest.raises(CertificateError, match="CS2 certificate is 48 bytes, expected 74"):
        parse_certificate(CERT["CERT1-A"][0], CryptoSuite.CS2)


def test_certificate_built_in_code_checks_field_sizes() -> None:
    with pytest.raises(CertificateError, match="'subject' \\(offset 28\\): expected 8 bytes, got 7"):
        Cs2Certificate(serial=bytes(8), issuer=bytes(8), valid_from=0, subject=bytes(7), reconstruction_point=H(CA_PUB_CS2))
    with pytest.raises(CertificateError, match="'valid_from' \\(offset 19\\)"):
        Cs2Certificate(serial=bytes(8), issuer=bytes(8), valid_from=1 << 40, subject=bytes(8), reconstruction_point=H(CA_PUB_CS2))


# -- negative vectors (§4.5) -----------------------------------------------------------------------


def test_neg1_altered_ca_key_is_detected() -> None:
    cert, priv, pub, _ = CERT["CERT2-D"]
    ca_bad = H("0207A445022D9F39F49BD438380026A27A9E0A1799313AB28C5C1A1C6B605154DB1DFF6752")
    assert SECT283K1.encode_point(reconstruct_public_key(cert, ca_bad)) != pub
    with pytest.raises(CertificateError, match="does not yield the public key"):
        DeviceCredentials.load(cert, priv, ca_bad)


def test_neg2_altered_private_key_is_detected() -> None:
    cert = CERT["CERT2-F"][0]
    priv_bad = H("00CE80A5B07A1E4744AA05C28741E75C7F1D348178543E21C61623A88A8240A46B1F8370")
    with pytest.raises(CertificateError, match="does not yield the public key"):
        DeviceCredentials.load(cert, priv_bad, H(CA_PUB_CS2))


@pytest.mark.parametrize(
    ("good", "cert_bad"),
    [
        pytest.param("CERT2-H", "00B3D2E33DD89D55F00D08011213141516171800595E2B38FFFFFFFF2000000000000004800203CDF9BCD0EDB73E4958A7B6E9DAAC86B81525045C5035DDD8B2B11273B519993B185BD1", id="NEG-3-issuer-byte"),
        pytest.param("CERT2-F", "000DC9EF0D0296930A0D08111213141516171800595E2AC0FFFFFFFF200000000000000200030483CC413CC4D5E29370C3892EE93B7080968D5604A49C24E8CD40089734EB7F1220674F", id="NEG-4-serial-byte"),
    ],
)
def test_neg3_neg4_altered_certificate_is_detected(good: str, cert_bad: str) -> None:
    _, priv, pub, _ = CERT[good]
    assert SECT283K1.encode_point(reconstruct_public_key(H(cert_bad), H(CA_PUB_CS2))) != pub
    with pytest.raises(CertificateError, match="does not yield the public key"):
        DeviceCredentials.load(H(cert_bad), priv, H(CA_PUB_CS2))


def test_neg5_bad_ca_key_format_is_refused_before_any_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    cert, priv, _, _ = CERT["CERT2-I"]
    ca_bad = H("1207A445022D9F39F49BDC38380026A27A9E0A1799313AB28C5C1A1C6B605154DB1DFF6752")

    def no_arithmetic(*args: object) -> int:
        raise AssertionError("field arithmetic ran on a key with an invalid format byte")

    for name in ("mul", "sqr", "inv"):
        monkeypatch.setattr(BinaryField, name, no_arithmetic)
    with pytest.raises(PointFormatError, match="CA public key: format byte 0x12"):
        reconstruct_public_key(cert, ca_bad)
    with pytest.raises(PointFormatError, match="CA public key: format byte 0x12"):
        DeviceCredentials.load(cert, priv, ca_bad)


def test_private_key_of_wrong_length_is_refused() -> None:
    cert, priv, _, _ = CERT["CERT2-A"]
    with pytest.raises(CryptoError, match="35 bytes, expected 36"):
        DeviceCredentials.load(cert, priv[1:], H(CA_PUB_CS2))


# -- issuance by a test CA (SEC 4 §3.3-§3.6) ---------------------------------------------------------


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), subject=st.binary(min_size=8, max_size=8))
@pytest.mark.parametrize("suite", list(CryptoSuite), ids=lambda s: s.name)
def test_issued_certificate_reconstructs_to_the_subjects_key(suite: CryptoSuite, seed: int, subject: bytes) -> None:
    rng = random.Random(seed)
    ca = CertificateAuthority.generate(suite, rng=rng)
    request, request_key = create_request(suite, subject, rng)
    response = ca.issue(request)
    credentials = complete_request(request_key, response, ca.public_bytes)
    cert = response.certificate
    assert cert.subject == subject and cert.issuer == DEFAULT_TEST_ISSUER
    # Anyone holding only the CA key and the certificate gets the key the subject derived privately.
    assert reconstruct_public_key(cert.to_bytes(), ca.public_bytes) == credentials.key_pair.public_key
    assert suite.curve.multiply_base(credentials.key_pair.secret_scalar()) == credentials.key_pair.public_key
    # ...and a party trusting a different CA does not.
    other_ca = CertificateAuthority.generate(suite, rng=rng)
    assert reconstruct_public_key(cert, other_ca.public_key) != credentials.key_pair.public_key


def test_issued_cs2_certificate_carries_the_requested_fields() -> None:
    ca = CertificateAuthority.generate(CryptoSuite.CS2, issuer=H("1112131415161718"), rng=random.Random(7))
    credentials = ca.issue_credentials(
        H("0A0B0C0D0E0F1012"), serial=H("0102030405060708"), valid_from=0x5292A38A, key_usage=0x88
    )
    cert = credentials.certificate
    assert isinstance(cert, Cs2Certificate)
    assert (cert.serial, cert.issuer, cert.subject) == (H("0102030405060708"), H("1112131415161718"), H("0A0B0C0D0E0F1012"))
    assert (cert.valid_from, cert.valid_to, cert.key_usage) == (0x5292A38A, NO_EXPIRY, 0x88)
    assert (cert.cert_type, cert.curve_id, cert.hash_id) == (0x00, 0x0D, 0x08)
    assert credentials.ca_public_bytes == ca.public_bytes
    # The issued credentials load like provisioned ones (what the emulated NCP's tokens would hold).
    again = DeviceCredentials.load(cert.to_bytes(), credentials.key_pair.private_bytes(), ca.public_bytes)
    assert again.key_pair == credentials.key_pair


def test_ca_refuses_fields_the_suite_does_not_have() -> None:
    cs1 = CertificateAuthority.generate(CryptoSuite.CS1, rng=random.Random(1))
    with pytest.raises(CertificateError, match="CS1 certificates have no serial, key_usage field"):
        cs1.issue_credentials(bytes(8), serial=bytes(8), key_usage=KEY_USAGE_DIGITAL_SIGNATURE)
    cs2 = CertificateAuthority.generate(CryptoSuite.CS2, rng=random.Random(1))
    with pytest.raises(CertificateError, match="CS2 certificates have no profile_data"):
        cs2.issue_credentials(bytes(8), profile_data=bytes(10))
    request, _ = create_request(CryptoSuite.CS1, bytes(8), random.Random(2))
    with pytest.raises(CertificateError, match="request is for CS1"):
        cs2.issue(request)


def test_response_for_another_request_is_refused() -> None:
    ca = CertificateAuthority.generate(CryptoSuite.CS1, rng=random.Random(3))
    request, _ = create_request(CryptoSuite.CS1, bytes(8), random.Random(4))
    _, other_key = create_request(CryptoSuite.CS1, bytes(8), random.Random(5))
    with pytest.raises(CertificateError, match="does not yield the public key"):
        complete_request(other_key, ca.issue(request), ca.public_key)


# -- private keys stay private ----------------------------------------------------------------------------


def test_private_keys_never_appear_in_reprs() -> None:
    cert, priv, _, _ = CERT["SE-C.6-initiator"]
    credentials = DeviceCredentials.load(cert, priv, H(CA_PUB_CS2))
    ca = CertificateAuthority.generate(CryptoSuite.CS2, rng=random.Random(9))
    ca_priv = ca.key_pair.private_bytes().reveal()
    request, _ = create_request(CryptoSuite.CS2, bytes(8), random.Random(10))
    response = ca.issue(request)
    r = response.reconstruction_data.reveal()
    assert isinstance(ca_priv, bytes) and isinstance(r, bytes)
    shown = " ".join(
        [repr(credentials), str(credentials), repr(credentials.key_pair), repr(ca), repr(response),
         repr(credentials.key_pair.private_bytes())]
    ).upper()
    for secret in (priv, priv.lstrip(b"\x00"), ca_priv, r):
        assert secret.hex().upper() not in shown
        assert str(int.from_bytes(secret, "big")) not in shown
        assert f"{int.from_bytes(secret, 'big'):X}" not in shown
    assert "REDACTED" in shown
    with pytest.raises(TypeError):
        pickle.dumps(credentials.key_pair)


def test_key_pair_checks_its_halves() -> None:
    with pytest.raises(CryptoError, match="out of range"):
        KeyPair(SECT163K1, 0)
    with pytest.raises(CryptoError, match="out of range"):
        KeyPair(SECT163K1, SECT163K1.n)
    with pytest.raises(CryptoError, match="does not match"):
        KeyPair(SECT163K1, 5, SECT163K1.g)
    assert KeyPair(SECT163K1, 1, SECT163K1.g).public_key == SECT163K1.g
