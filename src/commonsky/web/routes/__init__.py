"""The display's HTTP routes by area, one `APIRouter` each: `accounts` (sign-in, sessions, security log),
`picture` (tracks, alerts, status, replay, tar1090 files), `actions` (acknowledge, override, audit), `docs`.

Routes reach what they share through `commonsky.web.access` (the `Display` on `app.state`, the session
dependencies); `commonsky.web.app.create_app` includes them.
"""
