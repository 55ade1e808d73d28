"""Fakes that speak real platform protocols, for tests that drive the real client libraries."""

from .bot_api import Call, FakeBotApi, StoredFile, UploadedFile

__all__ = ["Call", "FakeBotApi", "StoredFile", "UploadedFile"]
