"""The embeddable web chat widget: static assets, the demo page, push tokens and transcript views."""
