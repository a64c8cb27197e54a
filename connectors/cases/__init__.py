"""Case system seam: 办件编码 (一企一事一码) → status and timeline."""
