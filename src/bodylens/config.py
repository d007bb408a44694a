"""Settings from environment variables (prefix ``BODYLENS_``) or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BODYLENS_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 5000
    api_key: str | None = Field(default=None, description="If set, requests need X-API-Key.")
    cors_origins: list[str] = Field(default_factory=list, description="CORS allow-list.")
    # Local paths given to the service are only read below this folder (None: refused).
    media_root: Path | None = None
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    max_video_bytes: int = 500 * 1024 * 1024
    fetch_timeout_s: float = 15.0
    max_redirects: int = 3
    # Networks exempt from the SSRF guard (e.g. an internal CDN); never anything by default.
    url_allow_networks: list[str] = Field(default_factory=list)
    preload_models: bool = True
    workers: int = 2
    # Intra-op threads per model call. With `workers` requests in parallel, 1 keeps torch's
    # threads from spin-waiting against each other on a small CPU (measured 3x slower at 2).
    torch_threads: int = 1
    # Fits that do not wait on each other run in a second process (``body.worker``): a side
    # photo's two-view fit, a stuck limb's refit. The same numbers, seconds sooner on two
    # cores, for ~0.8 GB more memory once the first request that needs it has started it.
    fit_worker: bool = True
    jobs_dir: Path = Path.home() / ".cache" / "bodylens" / "jobs"
    log_level: str = "INFO"
    hf_token: str | None = Field(default=None, description="Token for the remote HF backend.")
    hf_api_url: str = (
        "https://router.huggingface.co/hf-inference/models/sayeed99/segformer_b3_clothes"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
