from aiogram import Router

from . import cart, common


def setup_routers() -> Router:
    router = Router()
    router.include_routers(common.router, cart.router)
    return router
