"""Signatures and safe-mode crypto, delegated to wechatpy (no hand-written crypto here).

Plaintext mode: ``signature`` = SHA-1 of the sorted token, timestamp and nonce — it does not cover
the body, which is why safe mode is recommended. Safe mode (安全模式): the body carries an AES-CBC
``Encrypt`` field, ``msg_signature`` also covers that ciphertext, and the decrypted message ends
with the app id, which must be ours.
"""

from __future__ import annotations

import base64
import binascii
import struct
import time

from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.utils import check_signature

from connectors.errors import ApiError

FORGED = ApiError(403, "invalid_signature", "签名校验失败", "signature verification failed")


def verify_signature(token: str, signature: str | None, timestamp: str | None, nonce: str | None) -> None:
    if not signature or not timestamp or not nonce:
        raise ApiError(403, "missing_signature", "缺少签名参数", "signature, timestamp and nonce are required")
    try:
        check_signature(token, signature, timestamp, nonce)
    except InvalidSignatureException:
        raise FORGED from None


def valid_aes_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


class SafeMode:
    """Decrypts inbound messages and encrypts passive replies for one app."""

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self._crypto = WeChatCrypto(token, encoding_aes_key, app_id)

    def decrypt(self, encrypted: str, msg_signature: str | None, timestamp: str | None, nonce: str | None) -> str:
        if not msg_signature or not timestamp or not nonce:
            raise ApiError(403, "missing_signature", "安全模式缺少 msg_signature", "safe mode requires msg_signature")
        if not encrypted:
            raise ApiError(400, "missing_encrypt", "安全模式的消息缺少 Encrypt 字段", "safe-mode message lacks Encrypt")
        try:
            return self._crypto.decrypt_message({"Encrypt": encrypted}, msg_signature, timestamp, nonce)
        except InvalidSignatureException:
            raise ApiError(403, "invalid_msg_signature", "消息签名校验失败", "msg_signature verification failed") from None
        except InvalidAppIdException:
            raise ApiError(403, "wrong_appid", "消息不属于本公众号/小程序", "message was encrypted for another app id") from None
        except (ValueError, TypeError, IndexError, struct.error, binascii.Error, UnicodeDecodeError):
            raise ApiError(400, "decrypt_failed", "消息解密失败", "message could not be decrypted") from None

    def decrypt_echo(self, echostr: str, msg_signature: str, timestamp: str, nonce: str) -> str:
        """URL verification where ``echostr`` itself is encrypted (some consoles do this in safe mode)."""
        return self.decrypt(echostr, msg_signature, timestamp, nonce)

    def encrypt(self, reply_xml: str, nonce: str) -> str:
        return self._crypto.encrypt_message(reply_xml, nonce, str(int(time.time())))
