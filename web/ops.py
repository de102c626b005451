"""Ops endpoints behind the admin token: dead letters and their replay."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ops", __name__, url_prefix="/ops")
