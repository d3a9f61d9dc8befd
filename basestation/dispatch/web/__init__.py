"""The responder and operator web app the dispatch service serves: Jinja2 pages and partials, htmx, and small
plain JS modules for the map and the live stream. Third-party browser files come from npm (package.json here) and
are served from node_modules/ beside it, never from a CDN."""
