"""Every page renders for the township user."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.admin_ui.world import World, login_as


def test_pages_render(client: FlaskClient, world: World) -> None:
    """Each page answers 200 for the township office."""
    admin = login_as(client, "township")
    for path in [
        "/admin/",
        "/admin/members",
        f"/admin/members/{world.alice}",
        f"/admin/members/{world.alice}/edit",
        "/admin/reports",
        "/admin/nonreporters",
        "/admin/nonreporters/roster",
        "/admin/inbox",
        "/admin/inbox?tab=recordings",
        "/admin/inbox?tab=unmatched",
        "/admin/inbox?tab=replies",
        "/admin/help",
        f"/admin/help/{world.help_id}",
        "/admin/tasks",
        "/admin/tasks?show=done",
        "/admin/broadcasts",
        "/admin/broadcasts/new",
        "/admin/lessons",
        "/admin/review",
        "/admin/audit",
        "/admin/phone",
    ]:
        response = admin.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:3000])
