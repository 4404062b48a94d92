"""Every page renders for the township user."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.admin_ui.world import World, admin_pages, login_as


def test_pages_render(client: FlaskClient, world: World) -> None:
    """Each page answers 200 for the township office."""
    admin = login_as(client, "township")
    for path in admin_pages(world):
        response = admin.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:3000])
