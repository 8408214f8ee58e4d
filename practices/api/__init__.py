"""The DST API. `router` is loaded on first use: the schemas of this package
are also imported by practices.validation, which the router itself imports."""


def __getattr__(name: str):
    if name == "router":
        from practices.api.dst import router

        return router
    raise AttributeError(name)
