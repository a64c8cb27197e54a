"""Personal data protection: masking of 身份证号, mobile and bank card numbers and addresses."""

from connectors.privacy.logfilter import install_log_masking
from connectors.privacy.masking import mask_address, mask_pii

__all__ = ["install_log_masking", "mask_address", "mask_pii"]
