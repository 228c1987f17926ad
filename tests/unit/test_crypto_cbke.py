"""CBKE key agreement: the SE specification's own examples for both suites, policy checks, properties.

Vectors from the security test-vector notes §5.2 (Crypto Suite 2, SE Annex C.6) and §5.3
(Crypto Suite 1, SE Annex C.5). Published values are checked exactly; the values marked
computed there (CS2 KeyData/MACV, CS1 KeyData/MACU, the intermediates) are regression checks.
U is the initiator, V the responder.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.crypto.aes_mmo import hmac_aes_mmo
from harness.crypto.cbke import (
    KeyEstablishmentKeys,
    Role,
    associate_value,
    calculate_keys,
    check_peer_certificate,
    confirmation_mac,
    derive_keys,
    ecmqv_shared_secret,
    generate_ephemeral_key,
    implicit_signature,
)
from harness.crypto.ecqv import (
    CertificateAuthority,
    CryptoSuite,
    DeviceCredentials,
    KeyPair,
    certificate_hash,
    reconstruct_public_key,
)
from harness.crypto.errors import CertificateError, KeyEstablishmentError, PointFormatError

H = bytes.fromhex


@dataclass(frozen=True)
class Vector:
    """One full CBKE example; hex strings exactly as in the notes."""

    suite: CryptoSuite
    ca_pub: str
    v_id: str
    v_cert: str
    v_priv: str
    v_pub: str
    u_id: str
    u_cert: str
    u_priv: str
    u_pub: str
    u_eph_priv: str
    qeu: str
    v_eph_priv: str
    qev: str
    z: str
    mac_key: str
    key_data: str
    macu_input: str
    macu: str
    macv_input: str
    macv: str
    u_e: str
    v_e: str
    su: str
    sv: str


CS2 = Vector(
    suite=CryptoSuite.CS2,
    ca_pub="0207A445022D9F39F49BDC38380026A27A9E0A1799313AB28C5C1A1C6B605154DB1DFF6752",
    v_id="0A0B0C0D0E0F1011",
    v_cert="002622A505E8938F270D081112131415161718005292A35BFFFFFFFF0A0B0C0D0E0F1011880303B4E9DC543A64333C982308022B54E67E2F15F532551B0A11E2E2C1C1D3097A4324E7ED",
    v_priv="0151CD0DBCB80474BF7AC9FEEBE39C7A32A63518938FCA9754AAE132BC9C73BE94A7E1BE",
    v_pub="0202F4FA2A3040433C6820299D182A1042E41404E337C57F47716B42DFAF970F1580A04C9B",
    u_id="0A0B0C0D0E0F1012",
    u_cert="0084A933B37F018DEC0D081112131415161718005292A38AFFFFFFFF0A0B0C0D0E0F10128803076277E2F7E2252B16A0E92B6E8771BB3F207946CBD4A45D9A9DF6EDAB8C796A48E89DEC",
    u_priv="00F2561ADB39EF49C1D62EF5186C6E0C158A5A45BFCE38660931ACC3694592D5ACDE9006",
    u_pub="03030E56F7ADE866E76372764BA20A9FF1FE4CAE522F94839E70F2ADFC1CA3E97F4DDCAF2E",
    u_eph_priv="0013D36DE4B1EA8E22739C381370823F404BFF8862B521FECA9871FB3691846D361304B4",
    qeu="0305F3394E15680660EECAA36788D9B6F312B971CE2C9617570BF7DFCD21C972017762C332",
    v_eph_priv="03D48C7210DDBCC4FB2E5E7A0AA16A0DB89540820B8DC091AB521EA824AFE117CADE995B",
    qev="03009A5131CF5B92A016378C0F7F284ECD47F94010F875D43BF1E9A65474ADBFC63696A930",
    z="04F7724A9A77B21D2747CCEF68A457E45246C4BE9F66FD9425227BCB2CC5180EA9CCCB9A",
    mac_key="ED380A00296600FB6B893025DE5FD137",
    key_data="AA4689C70BE0FAF0C9BE534ABD9F4CDC",
    macu_input="020A0B0C0D0E0F10120A0B0C0D0E0F10110305F3394E15680660EECAA36788D9B6F312B971CE2C9617570BF7DFCD21C972017762C33203009A5131CF5B92A016378C0F7F284ECD47F94010F875D43BF1E9A65474ADBFC63696A930",
    macu="BF7E1A26D4EF7038B56813E465A131C9",
    macv_input="030A0B0C0D0E0F10110A0B0C0D0E0F101203009A5131CF5B92A016378C0F7F284ECD47F94010F875D43BF1E9A65474ADBFC63696A9300305F3394E15680660EECAA36788D9B6F312B971CE2C9617570BF7DFCD21C972017762C332",
    macv="C5B432A9995A092F4449F83613930064",
    u_e="FCC19CE85EDD2ED61B7917ED9B2674C4",
    v_e="E122DCCC45B301D81043EACFAF15EF4B",
    su="01FEE42192D590BC4F1C21F4F3FFA77F7435DDF931B04F213A534929D3225C070EF3EFB8",
    sv="01E29BD1C5124A942C003B90C8104573CF6AE48D78562129313041B75B00C4690EB87701",
)
#: CS2 only: the associate values and the Z a missing cofactor would give.
CS2_AVF_QEU = "31CE2C9617570BF7DFCD21C972017762C332"
CS2_AVF_QEV = "2010F875D43BF1E9A65474ADBFC63696A930"
CS2_Z_WITHOUT_COFACTOR_WRONG = "048F04DA1AFBD9C7F08A4E8C5C73FB9C7058F9A7FDD1B53899B496A94B898C0A433F5682"

CS1 = Vector(
    suite=CryptoSuite.CS1,
    ca_pub="0200FDE8A7F3D1084224962A4E7C54E69AC3F04DA6B8",
    v_id="0000000000000001",
    v_cert="03045FDFC8D85FFB8B3993CB72DDCAA55F00B3E87D6D0000000000000001544553545345434101090006000000000000",
    v_priv="00B8A900FCADEBABBFA383B540FCE9ED438395EAA7",
    v_pub="030290A1F5C08DAD5F2945E335620C7A98FAC46666A1",
    u_id="0000000000000002",
    u_cert="020615E07D30ECA2DAD58002E667D94BC1B4223983070000000000000002544553545345434101090006000000000000",
    u_priv="01E9DDB5580CF72ECE7F215F0AE594E48DF3E7FEE8",
    u_pub="03025BBA38D0C7B5436B68DF728F093E7A1D6C437E6D",
    u_eph_priv="0013D36DE4B1EA8E22739C381370823F404BFF8862",
    qeu="0300E117C86D0E7CD128B2F34E9076CFF24AF46D7288",
    v_eph_priv="03D48C7210DDBCC4FB2E5E7A0AA16A0DB89540820B",
    qev="0306AB52062201D995B8B8591F3F086A3A2E214D845E",
    z="00E0D2C3CCD5C106A89C4F6CC26A5F7EC9DF78A7BE",
    mac_key="90F967B22C8357C10C1C04788DE9E848",
    key_data="86D58AAA998E2FAEFAF9FEF49606543A",
    macu_input="02000000000000000200000000000000010300E117C86D0E7CD128B2F34E9076CFF24AF46D72880306AB52062201D995B8B8591F3F086A3A2E214D845E",
    macu="B82F1F9774740C32F80FCFC3921B6420",
    macv_input="03000000000000000100000000000000020306AB52062201D995B8B8591F3F086A3A2E214D845E0300E117C86D0E7CD128B2F34E9076CFF24AF46D7288",
    macv="79D5F2AD1C31D4D1EE7CB719AC683C3C",
    u_e="A94B12FCE2F219CB3B7F3E0318C6C8A0",
    v_e="6BDBBF16B24A2F91BC1ADE0A33845661",
    su="00E6320E20B174FD5F1A8B684456D49379762135C7",
    sv="01460263B2900751D732677EC537EB9688FCCD073C",
)
VECTORS = [pytest.param(CS2, id="CS2-SE-annex-C.6"), pytest.param(CS1, id="CS1-SE-annex-C.5")]


@dataclass(frozen=True)
class Parties:
    u: DeviceCredentials
    v: DeviceCredentials
    u_eph: KeyPair
    v_eph: KeyPair


def _parties(vector: Vector) -> Parties:
    curve = vector.suite.curve
    return Parties(
        u=DeviceCredentials.load(H(vector.u_cert), H(vector.u_priv), H(vector.ca_pub)),
        v=DeviceCredentials.load(H(vector.v_cert), H(vector.v_priv), H(vector.ca_pub)),
        # The CS2 responder's published ephemeral key is a 36-byte value above n (see KeyPair.from_private_bytes).
        u_eph=KeyPair.from_private_bytes(curve, H(vector.u_eph_priv), reduce_mod_n=True),
        v_eph=KeyPair.from_private_bytes(curve, H(vector.v_eph_priv), reduce_mod_n=True),
    )


def _both_sides(p: Parties) -> tuple[KeyEstablishmentKeys, KeyEstablishmentKeys]:
    at_u = calculate_keys(
        own=p.u, own_ephemeral=p.u_eph, role=Role.INITIATOR,
        peer_certificate=p.v.certificate.to_bytes(), peer_ephemeral_public=p.v_eph.public_bytes,
    )
    at_v = calculate_keys(
        own=p.v, own_ephemeral=p.v_eph, role=Role.RESPONDER,
        peer_certificate=p.u.certificate.to_bytes(), peer_ephemeral_public=p.u_eph.public_bytes,
    )
    return at_u, at_v


@pytest.mark.parametrize("vector", VECTORS)
def test_full_key_agreement_reproduces_the_specification_example(vector: Vector) -> None:
    p = _parties(vector)
    assert p.u.eui64 == H(vector.u_id) and p.v.eui64 == H(vector.v_id)
    assert p.u.key_pair.public_bytes == H(vector.u_pub) and p.v.key_pair.public_bytes == H(vector.v_pub)
    assert p.u_eph.public_bytes == H(vector.qeu) and p.v_eph.public_bytes == H(vector.qev)
    for keys in _both_sides(p):
        assert keys.shared_secret.reveal() == H(vector.z)
        assert keys.mac_key.reveal() == H(vector.mac_key)
        assert keys.key_data.reveal() == H(vector.key_data)
        assert keys.initiator_mac == H(vector.macu)
        assert keys.responder_mac == H(vector.macv)


@pytest.mark.parametrize("vector", VECTORS)
def test_intermediate_values(vector: Vector) -> None:
    p = _parties(vector)
    curve = vector.suite.curve
    assert certificate_hash(p.u.certificate) == int(vector.u_e, 16)
    assert certificate_hash(p.v.certificate) == int(vector.v_e, 16)
    assert implicit_signature(p.u.key_pair, p.u_eph) == int(vector.su, 16)
    assert implicit_signature(p.v.key_pair, p.v_eph) == int(vector.sv, 16)
    z = ecmqv_shared_secret(p.u.key_pair, p.u_eph, p.v.key_pair.public_key, p.v_eph.public_key)
    assert z.reveal() == H(vector.z) and len(z.reveal()) == curve.field.byte_length
    mac_key, key_data = derive_keys(H(vector.z))
    assert (mac_key.reveal(), key_data.reveal()) == (H(vector.mac_key), H(vector.key_data))


@pytest.mark.parametrize("vector", VECTORS)
def test_confirmation_mac_message_layout(vector: Vector) -> None:
    # 02 || IDU || IDV || QEU || QEV and 03 || IDV || IDU || QEV || QEU, IDs big-endian: 61 / 91 bytes.
    expected_length = 61 if vector.suite is CryptoSuite.CS1 else 91
    assert len(H(vector.macu_input)) == len(H(vector.macv_input)) == expected_length
    assert hmac_aes_mmo(H(vector.mac_key), H(vector.macu_input)) == H(vector.macu)
    assert hmac_aes_mmo(H(vector.mac_key), H(vector.macv_input)) == H(vector.macv)
    ids, qes = (H(vector.u_id), H(vector.v_id)), (H(vector.qeu), H(vector.qev))
    assert confirmation_mac(H(vector.mac_key), 0x02, ids[0], ids[1], qes[0], qes[1]) == H(vector.macu)
    assert confirmation_mac(H(vector.mac_key), 0x03, ids[1], ids[0], qes[1], qes[0]) == H(vector.macv)


def test_cs2_associate_values_and_the_cofactor() -> None:
    p = _parties(CS2)
    curve = CryptoSuite.CS2.curve
    assert associate_value(curve, p.u_eph.public_key) == int(CS2_AVF_QEU, 16)
    assert associate_value(curve, p.v_eph.public_key) == int(CS2_AVF_QEV, 16)
    # Without the cofactor h = 4 the published example is not reproduced: this is the Z that mistake gives.
    s_u = implicit_signature(p.u.key_pair, p.u_eph)
    combined = curve.add(p.v_eph.public_key, curve.multiply(int(CS2_AVF_QEV, 16), p.v.key_pair.public_key))
    wrong = curve.multiply(s_u, combined)
    assert wrong is not None
    assert curve.field.to_bytes(wrong.x) == H(CS2_Z_WITHOUT_COFACTOR_WRONG) != H(CS2.z)


def test_each_side_accepts_the_others_mac_and_rejects_a_wrong_one() -> None:
    at_u, at_v = _both_sides(_parties(CS1))
    at_u.check_peer_mac(at_v.own_mac())
    at_v.check_peer_mac(at_u.own_mac())
    assert at_u.own_mac() == H(CS1.macu) and at_v.own_mac() == H(CS1.macv)
    with pytest.raises(KeyEstablishmentError, match="MACV .* does not verify"):
        at_u.check_peer_mac(at_u.own_mac())  # an echo of one's own MAC must not pass
    with pytest.raises(KeyEstablishmentError, match="MACU .* does not verify"):
        at_v.check_peer_mac(bytes(16))


def test_keys_are_not_shown_in_reprs() -> None:
    at_u, _ = _both_sides(_parties(CS1))
    shown = repr(at_u).upper()
    for secret in (CS1.z, CS1.mac_key, CS1.key_data):
        assert secret not in shown


def test_malformed_peer_ephemeral_key_is_refused() -> None:
    p = _parties(CS1)
    with pytest.raises(PointFormatError, match="peer ephemeral public key: format byte 0x12"):
        calculate_keys(
            own=p.u, own_ephemeral=p.u_eph, role=Role.INITIATOR,
            peer_certificate=p.v.certificate, peer_ephemeral_public=b"\x12" + H(CS1.qev)[1:],
        )


def test_peer_certificate_of_the_other_suite_is_refused() -> None:
    p = _parties(CS1)
    with pytest.raises(CertificateError, match="CS1 certificate is 74 bytes, expected 48"):
        calculate_keys(
            own=p.u, own_ephemeral=p.u_eph, role=Role.INITIATOR,
            peer_certificate=H(CS2.v_cert), peer_ephemeral_public=H(CS1.qev),
        )


# -- receiver policy on the peer certificate ------------------------------------------------------------

SIGNATURE_ONLY_CS2 = "00B3D2E33DD89D55F00D08111213141516171800595E2B38FFFFFFFF2000000000000004800203CDF9BCD0EDB73E4958A7B6E9DAAC86B81525045C5035DDD8B2B11273B519993B185BD1"  # CERT2-H, usage 80
NO_USAGE_CS2 = "000DC9EF0D0296930D0D08111213141516171800595E2AC0FFFFFFFF200000000000000200030483CC413CC4D5E29370C3892EE93B7080968D5604A49C24E8CD40089734EB7F1220674F"  # CERT2-F, usage 00


def test_cs2_policy_accepts_the_specification_certificates() -> None:
    cert = check_peer_certificate(
        H(CS2.u_cert), suite=CryptoSuite.CS2, partner_eui64=H(CS2.u_id), expected_issuer=H("1112131415161718")
    )
    assert cert.subject == H(CS2.u_id)
    check_peer_certificate(H(CS1.v_cert), suite=CryptoSuite.CS1, partner_eui64=H(CS1.v_id), expected_issuer=b"TESTSECA")


@pytest.mark.parametrize("cert", [SIGNATURE_ONLY_CS2, NO_USAGE_CS2], ids=["usage-80-CERT2-H", "usage-00-CERT2-F"])
def test_cs2_certificate_without_key_agreement_use_is_refused(cert: str) -> None:
    with pytest.raises(CertificateError, match="lacks the key-agreement bit"):
        check_peer_certificate(H(cert), suite=CryptoSuite.CS2)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("cert_type", 0x01, "cert_type is 0x01"), ("curve_id", 0x0C, "curve_id is 0x0C"), ("hash_id", 0x07, "hash_id is 0x07")],
)
def test_cs2_certificate_for_another_scheme_is_refused(field: str, value: int, message: str) -> None:
    p = _parties(CS2)
    altered = replace(p.u.certificate, **{field: value})
    with pytest.raises(CertificateError, match=message):
        check_peer_certificate(altered.to_bytes(), suite=CryptoSuite.CS2)


def test_certificate_of_another_device_or_issuer_is_refused() -> None:
    with pytest.raises(CertificateError, match="subject 0A0B0C0D0E0F1012 is not the partner 0A0B0C0D0E0F1011"):
        check_peer_certificate(H(CS2.u_cert), suite=CryptoSuite.CS2, partner_eui64=H(CS2.v_id))
    with pytest.raises(CertificateError, match="issuer 5445535453454341 is not the expected"):
        check_peer_certificate(H(CS1.u_cert), suite=CryptoSuite.CS1, expected_issuer=b"HNTESTCA")
    with pytest.raises(CertificateError, match="expected CS2"):
        check_peer_certificate(_parties(CS1).u.certificate, suite=CryptoSuite.CS2)


# -- properties on fresh credentials from a test CA ------------------------------------------------------


@settings(max_examples=4, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("suite", list(CryptoSuite), ids=lambda s: s.name)
def test_ecmqv_is_symmetric_for_random_keys(suite: CryptoSuite, data: st.DataObject) -> None:
    curve = suite.curve
    u, u_eph, v, v_eph = (
        KeyPair(curve, data.draw(st.integers(min_value=1, max_value=curve.n - 1), label=name))
        for name in ("d_U", "de_U", "d_V", "de_V")
    )
    at_u = ecmqv_shared_secret(u, u_eph, v.public_key, v_eph.public_key)
    at_v = ecmqv_shared_secret(v, v_eph, u.public_key, u_eph.public_key)
    assert at_u == at_v


def test_fresh_credentials_from_a_test_ca_complete_cbke() -> None:
    # What two emulated parties do at run time: credentials from one CA, fresh ephemeral keys.
    rng = random.Random(2024)
    ca = CertificateAuthority.generate(CryptoSuite.CS2, rng=rng)
    u, v = ca.issue_credentials(H("000D6F000B123451")), ca.issue_credentials(H("000D6F0000000001"))
    u_eph, v_eph = generate_ephemeral_key(CryptoSuite.CS2, rng), generate_ephemeral_key(CryptoSuite.CS2, rng)
    at_u, at_v = _both_sides(Parties(u=u, v=v, u_eph=u_eph, v_eph=v_eph))
    at_u.check_peer_mac(at_v.own_mac())
    at_v.check_peer_mac(at_u.own_mac())
    assert at_u.key_data == at_v.key_data
    assert len(at_u.key_data.reveal()) == 16


def test_partner_trusting_another_ca_fails_key_confirmation() -> None:
    # A certificate from a CA the other side does not trust yields a wrong static key: the exchange
    # runs to the end and the MACs disagree (BAD_KEY_CONFIRM), exactly as with a real device.
    rng = random.Random(11)
    ours = CertificateAuthority.generate(CryptoSuite.CS1, rng=rng)
    theirs = CertificateAuthority.generate(CryptoSuite.CS1, rng=rng)
    u, v = ours.issue_credentials(bytes(7) + b"\x01"), theirs.issue_credentials(bytes(7) + b"\x02")
    at_u, at_v = _both_sides(Parties(u=u, v=v, u_eph=generate_ephemeral_key(CryptoSuite.CS1, rng),
                                     v_eph=generate_ephemeral_key(CryptoSuite.CS1, rng)))
    assert at_u.key_data != at_v.key_data
    with pytest.raises(KeyEstablishmentError):
        at_v.check_peer_mac(at_u.own_mac())


def test_reconstructed_partner_key_is_the_partners_static_key() -> None:
    p = _parties(CS2)
    assert reconstruct_public_key(p.u.certificate, p.v.ca_public_key) == p.u.key_pair.public_key
