"""The operators' dashboard at `/admin` and its JSON API: auth, views, HTTP."""
