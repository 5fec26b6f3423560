import os
from dataclasses import dataclass, field


@dataclass
class Config:
    token: str = field(default_factory=lambda: os.environ["BOT_TOKEN"])
    admin_ids: list[int] = field(
        default_factory=lambda: [int(i) for i in os.environ.get("ADMIN_IDS", "1001").split(",")]
    )


def load_config() -> Config:
    return Config()
