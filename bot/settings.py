"""Settings from the environment (prefix BOT_) and an optional .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(Exception):
    """A configuration problem, explained in one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOT_", env_file=".env", extra="ignore")

    database_url: str = Field(default="sqlite+aiosqlite:///./data/mustafid.db")
    default_language: str = "ar"
    data_dir: Path = Path("./data")
    content_dir: Path = PROJECT_ROOT / "content"
    # The sentence model beside the lexical ranker (flows/faq/embedding.py). Off (0) saves its memory and warm-up,
    # for 2.6 points fewer blind DEV questions answered confidently and rightly (95.2% with it, 92.6% without) and
    # thresholds that meet the targets less often on a new writer (bench/faq_eval.py --calibrate [--lexical]).
    faq_embeddings: bool = True
    faq_cache: Path | None = None  # sentence vectors of the guides (default: <data_dir>/faq-embeddings.npz)
    timezone: str = "Asia/Riyadh"
    # The policy: the research committee answers in not less than two weeks.
    decision_days: int = Field(default=14, ge=1, le=365)
    draft_expiry_hours: int = Field(default=24 * 7, ge=1)
    resume_prompt_minutes: int = Field(default=30, ge=1)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Encryption at rest (storage/crypto.py): base64 of 32 random bytes; during a rotation several, comma-separated,
    # the new one first. Unset: a key file under data_dir (a warning at start: production keeps the key elsewhere).
    data_key: str | None = Field(default=None, repr=False)
    # Retention: days after a request is closed before its files, free text and relay history are deleted.
    retention_days: int = Field(default=365, ge=1)
    # A decided request's minimal record is kept this long for the association's accounts, even when the
    # person asks for their data to be deleted («بياناتي»).
    retention_years: int = Field(default=10, ge=1, le=50)
    feedback_days: int = Field(
        default=10, ge=1, le=365
    )  # suggestions and complaints are answered within this

    telegram_token: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8080
    staff_chat_id: int | None = None
    complaints_chat_id: int | None = None  # managers' group: complaints about staff conduct (never the desk)
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    # The desk says so once in the group when a post has waited longer (0: never).
    desk_backlog_alert_minutes: int = Field(default=10, ge=0, le=24 * 60)
    web_chat: bool = True  # the website chat on the HTTP server of `run` (docs/web.md)
    web_allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()  # sites that may embed it (the widget)

    whatsapp_token: str | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: str | None = None
    whatsapp_verify_token: str | None = None
    whatsapp_api_base: str = "https://graph.facebook.com/v23.0"
    whatsapp_rate: float = Field(default=80, gt=0, le=1000)  # messages/s per business number

    outbox_tick_seconds: float = Field(default=2.0, gt=0)
    outbox_max_attempts: int = Field(default=8, ge=1)
    digest_time: str = "09:00"
    survey_delay_seconds: int = Field(default=3600, ge=0)
    survey_after_close: bool = True  # a short poll after a staff conversation is closed with /close

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in ("ar", "en"):
            raise ValueError("must be 'ar' or 'en'")
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            try:
                return tuple(int(p) for p in parts)
            except ValueError:
                raise ValueError(
                    "must be comma-separated numeric Telegram user ids, e.g. 9001,9002"
                ) from None
        if isinstance(value, int):
            return (value,)
        return value

    @field_validator("web_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            origins = tuple(p.strip().rstrip("/") for p in value.split(",") if p.strip())
            for origin in origins:
                if not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
                    raise ValueError("must be comma-separated origins like https://www.example.org")
            return origins
        return value

    @field_validator("digest_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        try:
            hours, minutes = (int(x) for x in value.split(":"))
        except ValueError:
            raise ValueError("must be HH:MM, e.g. 09:00") from None
        if not (0 <= hours < 24 and 0 <= minutes < 60):
            raise ValueError("must be HH:MM, e.g. 09:00")
        return f"{hours:02d}:{minutes:02d}"

    def whatsapp_missing(self) -> list[str]:
        """The companion settings WhatsApp needs once BOT_WHATSAPP_TOKEN is set, by variable name."""
        if not self.whatsapp_token:
            return []
        needed = ("whatsapp_phone_number_id", "whatsapp_app_secret", "whatsapp_verify_token")
        return ["BOT_" + name.upper() for name in needed if not getattr(self, name)]

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"


def load_settings(**overrides: object) -> Settings:
    """Settings, or a SettingsError whose message is one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "BOT_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise SettingsError(f"{name}: {first['msg']}") from None
