"""The operator display: a FastAPI server streaming one partner's picture to a MapLibre map page.

`picture` is the pure picture model (`Picture`, `picture_delta`), `actions` the operator actions and
their `AuditEntry`, `feed` the `PictureSource` seam and the node-fed `PictureFeed`, `scenario` and
`replay` the sources over a simulated scenario and a recording (`source` gathers them all); `auth`
the users, roles and sessions, `access` what routes share and who may call them, `routes` the HTTP
routes by area, `stream` the WebSocket, `app` the server (`create_app`, `serve`).
"""
