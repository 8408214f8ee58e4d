from ninja import NinjaAPI

api = NinjaAPI(title="Sigillo API", version="1.0", docs_url="/docs", openapi_url="/openapi.json")
