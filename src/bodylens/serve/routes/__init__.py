"""Route modules. Each defines `router` (an APIRouter) and `MODELS`, the registry names the
server preloads at start-up; list the module in `serve.app.ROUTE_MODULES`."""
