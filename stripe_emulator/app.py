"""The WSGI application: Stripe's /v1 API, the hosted checkout page and /_emulator controls."""

from __future__ import annotations

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from stripe_emulator.api import build_api
from stripe_emulator.controls import build_controls
from stripe_emulator.errors import StripeError, unrecognized_url
from stripe_emulator.hosted import build_hosted
from stripe_emulator.pipeline import begin_request, error_response, finish_response
from stripe_emulator.state import EmulatorState


def create_app(state: EmulatorState) -> Flask:
    app = Flask(__name__)
    assert isinstance(app.json, DefaultJSONProvider)
    app.json.sort_keys = False
    app.before_request(lambda: begin_request(state))
    app.after_request(finish_response)
    app.register_blueprint(build_api(state))
    app.register_blueprint(build_controls(state))
    app.register_blueprint(build_hosted(state))

    @app.errorhandler(404)
    @app.errorhandler(405)
    def unknown_route(error: HTTPException) -> Response | HTTPException:
        if request.path.startswith("/v1/"):
            return error_response(unrecognized_url(request.method, request.path))
        return error

    @app.errorhandler(StripeError)
    def stripe_error(error: StripeError) -> Response:
        return error_response(error)

    return app
