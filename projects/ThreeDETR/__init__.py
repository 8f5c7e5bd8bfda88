"""3DETR on ScanNetV2 with any pt3kd_mm point encoder (see README.md)."""
