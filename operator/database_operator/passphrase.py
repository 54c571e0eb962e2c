"""Pulumi's passphrase secrets format, in Python.

Encrypting a new stack's passwords here, instead of `pulumi config set --secret`, spares a CLI run and its key
derivation (1,000,000 rounds of PBKDF2, a third of a CPU second) for every new Database; and stacks created by
one operator process share one salt, so the key is derived once per process.

The format (pulumi sdk `go/common/resource/config/crypt.go`, pkg `secrets/passphrase/manager.go`): a stack's
`encryptionsalt` is `v1:<base64 salt>:<the word "pulumi", encrypted>`; an encrypted value is
`v1:<base64 nonce>:<base64 AES-256-GCM ciphertext and tag>`, under the key PBKDF2-SHA256(passphrase, salt).
"""

import base64
import hashlib
import secrets
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROUNDS = 1_000_000
KEY_BYTES = 32
SALT_BYTES = 8
NONCE_BYTES = 12
CHECK_WORD = "pulumi"
"""Encrypted into the salt state, so a wrong passphrase is noticed before anything is encrypted with it."""


class WrongPassphrase(ValueError):
    """The passphrase does not open a stack's settings (they were written under another passphrase)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def encrypt_with_key(key: bytes, plaintext: str) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return f"v1:{_b64(nonce)}:{_b64(AESGCM(key).encrypt(nonce, plaintext.encode(), None))}"


def decrypt_with_key(key: bytes, ciphertext: str) -> str:
    version, nonce, sealed = ciphertext.split(":")
    if version != "v1":
        raise ValueError(f"unknown encrypted value version {version!r}")
    return AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(sealed), None).decode()


def derive_key(passphrase: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, ROUNDS, KEY_BYTES)


class Passphrase:
    """One passphrase, the keys derived from it per salt, and the salt this process gives new stacks."""

    def __init__(self, passphrase: str) -> None:
        self._passphrase = passphrase
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._salt_state: str | None = None

    @property
    def salt_state(self) -> str:
        """The `encryptionsalt` for stacks this process creates (one salt: one key derivation)."""
        with self._lock:
            if self._salt_state is None:
                salt = secrets.token_bytes(SALT_BYTES)
                key = derive_key(self._passphrase, salt)
                self._salt_state = f"v1:{_b64(salt)}:{encrypt_with_key(key, CHECK_WORD)}"
                self._keys[self._salt_state] = key
            return self._salt_state

    def key(self, salt_state: str) -> bytes:
        """The key for a stack's `encryptionsalt`; WrongPassphrase when the passphrase does not match it."""
        with self._lock:
            if salt_state in self._keys:
                return self._keys[salt_state]
        version, salt, check = salt_state.split(":", 2)
        if version != "v1":
            raise ValueError(f"unknown encryptionsalt version {version!r}")
        key = derive_key(self._passphrase, base64.b64decode(salt))
        try:
            matches = decrypt_with_key(key, check) == CHECK_WORD
        except InvalidTag:
            matches = False
        if not matches:
            raise WrongPassphrase("the operator's passphrase does not decrypt this stack's settings")
        with self._lock:
            self._keys[salt_state] = key
        return key

    def encrypt(self, salt_state: str, plaintext: str) -> str:
        return encrypt_with_key(self.key(salt_state), plaintext)

    def decrypt(self, salt_state: str, ciphertext: str) -> str:
        return decrypt_with_key(self.key(salt_state), ciphertext)
