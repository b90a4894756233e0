"""Text recognition (OCR) backends: one module per platform behind ``OcrBackend``."""
