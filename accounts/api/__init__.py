from accounts.api.oauth import router as oauth_router
from accounts.api.password import router as password_router
from accounts.api.robots import router as robots_router
from accounts.api.users import router as users_router

__all__ = ["oauth_router", "password_router", "robots_router", "users_router"]
