#!/usr/bin/python3
"""Independent computation of the peer-channel key-derivation vectors used by
ctrl/src/peer/kdf.rs (test `derivation_matches_independent_python_vector`).

Uses Python's `cryptography` package (OpenSSL's HKDF and X25519), not our Rust code, so the
vector checks the specification in docs/peer-channel.md rather than our implementation of
it. Run: /usr/bin/python3 ctrl/src/peer/testdata/kdf_vectors.py
"""
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

AUTH = b"qfp peer auth v1"
CHILD = b"qfp child sa v1"

psk = b"qfp kdf test vector psk"
tunnel = (0x0A0B0C0D).to_bytes(4, "big")
# RFC 7748 section 6.1 private keys (Alice = initiator, Bob = responder).
sk_i = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
sk_r = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
ni = bytes(range(0x00, 0x20))
nr = bytes(range(0x20, 0x40))
spi_i = (0x10000001).to_bytes(4, "big")
spi_r = (0x20000002).to_bytes(4, "big")


def hkdf(salt, info, ikm, n):
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=salt, info=info).derive(ikm)


mac_key = hkdf(AUTH, AUTH + b"mac" + tunnel, psk, 32)
kdf_salt = hkdf(AUTH, AUTH + b"kdf" + tunnel, psk, 32)
a = X25519PrivateKey.from_private_bytes(sk_i)
b = X25519PrivateKey.from_private_bytes(sk_r)
raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
pub_i = a.public_key().public_bytes(*raw)
pub_r = b.public_key().public_bytes(*raw)
shared = a.exchange(b.public_key())
assert shared == b.exchange(a.public_key())
print("mac_key  ", mac_key.hex())
print("kdf_salt ", kdf_salt.hex())
print("pub_i    ", pub_i.hex())
print("pub_r    ", pub_r.hex())
print("shared   ", shared.hex())
for code, klen in ((1, 16), (2, 32)):
    okm = hkdf(kdf_salt, CHILD + ni + nr + spi_i + spi_r + bytes([code]), shared, 2 * (klen + 4))
    print(f"aead {code}: key_i2r {okm[:klen].hex()} salt_i2r {okm[klen:klen+4].hex()} "
          f"key_r2i {okm[klen+4:2*klen+4].hex()} salt_r2i {okm[2*klen+4:].hex()}")
