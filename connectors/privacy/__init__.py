"""Personal data protection: masking of 身份证号, mobile and bank card numbers."""

from connectors.privacy.masking import mask_pii

__all__ = ["mask_pii"]
