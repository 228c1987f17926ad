"""Cryptography for GB/Smart Energy HAN devices: install-code keys and CBKE (Crypto Suites 1 and 2).

A small pure-Python library that the emulated NCP and the emulated devices use to derive
install-code link keys and to run Certificate-Based Key Establishment with each other.
``cryptography`` supplies only AES-128; the rest is written here from the specifications
(Zigbee 05-3474 Annex B, SEC 1, SEC 2, SEC 4, Smart Energy 07-5356 Annex C) and checked
against the published known answers in ``tests/unit/test_crypto_*.py``.

Modules, bottom up:

* :mod:`harness.crypto.aes_mmo` -- AES-MMO hash, HMAC-AES-MMO, install code -> link key.
* :mod:`harness.crypto.binary_curve` -- GF(2^m), sect163k1 / sect283k1, point encoding.
* :mod:`harness.crypto.ecqv` -- implicit certificates, key reconstruction, a test CA.
* :mod:`harness.crypto.cbke` -- ECMQV, the KDF and the key-confirmation MACs.
* :mod:`harness.crypto.errors` -- :class:`~harness.crypto.errors.CryptoError` and its kinds.

Typical use by an emulated pair of devices::

    ca = CertificateAuthority.generate(CryptoSuite.CS2, rng=rng)
    device = ca.issue_credentials(device_eui64)        # certificate + key pair + CA key
    trust_centre = ca.issue_credentials(tc_eui64)
    eph = generate_ephemeral_key(CryptoSuite.CS2, rng) # per exchange
    keys = calculate_keys(own=device, own_ephemeral=eph, role=Role.INITIATOR,
                          peer_certificate=tc_certificate_bytes, peer_ephemeral_public=tc_qe)
    keys.check_peer_mac(macv_from_peer); link_key = keys.key_data.reveal()

None of this is constant-time; it is for test keys on a test bench only.
"""
