import os


class Settings:
    bot_token = os.environ["BOT_TOKEN"]


config = Settings()
