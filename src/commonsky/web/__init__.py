"""The operator display: a FastAPI server streaming one partner's picture to a MapLibre map page.

`source` holds the picture sources (`PictureSource`, `ScenarioSource`, `ReplaySource`, `PictureFeed`),
`auth` the users, roles and sessions, `app` the server (`create_app`, `serve`).
"""
