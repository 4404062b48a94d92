"""The task page: liaison tasks of the escalation, seen in scope and marked done."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models import AuditLog, ContactKind, ContactLog, Member, utcnow
from models.tasks import open_liaison_task
from tests.admin_ui.world import World, db, login_as


def _tasks(app: Flask, world: World) -> dict[str, int]:
    """A task for alice (the liaison's), bob (no liaison), carol (west) and dave (elsewhere)."""
    ids = {}
    with db(app) as session:
        for name in ("alice", "bob", "carol", "dave"):
            member = session.get(Member, getattr(world, name))
            assert member is not None
            now = utcnow()
            ids[name] = open_liaison_task(session, member, world.period, now.date(), now).id
        session.commit()
    return ids


def _task(app: Flask, task_id: int) -> ContactLog:
    with db(app) as session:
        task = session.get(ContactLog, task_id)
        assert task is not None
        session.expunge(task)
        return task


def test_the_liaison_sees_only_their_members_tasks_and_marks_one_done(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """GET /admin/tasks in Chinese, in the liaison's menu, lists alice's task only; marking it
    done with a note logs the month's contact by the liaison and closes the task."""
    ids = _tasks(app, world)
    liaison = login_as(client, "liaison")
    response = liaison.get("/admin/tasks")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<a href="/admin/tasks" aria-current="page">联系任务</a>' in page
    assert "王秀英" in page
    assert "李建国" not in page and "张桂兰" not in page and "赵德明" not in page
    done = liaison.post(f"/admin/tasks/{ids['alice']}/done", {"note": "电话联系上了,下周汇报"})
    assert done.status_code == 302
    assert "王秀英" not in liaison.get("/admin/tasks").get_data(as_text=True)
    assert "王秀英" in liaison.get("/admin/tasks?show=done").get_data(as_text=True)
    task = _task(app, ids["alice"])
    assert (task.done, task.user_id) == (True, world.users["liaison"])
    with db(app) as session:
        contact = session.scalars(
            select(ContactLog).where(
                ContactLog.member_id == world.alice,
                ContactLog.kind == ContactKind.MONTHLY_CONTACT,
            )
        ).one()
        assert (contact.user_id, contact.note, contact.done) == (
            world.users["liaison"],
            "电话联系上了,下周汇报",
            True,
        )
        audit = session.scalars(
            select(AuditLog.detail).where(
                AuditLog.action == "contact", AuditLog.target == f"member:{world.alice}"
            )
        ).all()
        assert audit == [{"task": ids["alice"]}]
    # Done twice logs nothing more.
    liaison.post(f"/admin/tasks/{ids['alice']}/done", {"note": "again"})
    with db(app) as session:
        kinds = session.scalars(
            select(ContactLog.kind).where(ContactLog.member_id == world.alice)
        ).all()
    assert sorted(kinds) == sorted(
        [ContactKind.HOST_FEEDBACK, ContactKind.LIAISON_TASK, ContactKind.MONTHLY_CONTACT]
    )


def test_the_branch_sees_its_tasks_and_the_ones_nobody_was_given(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The branch lists alice's and bob's tasks, bob's (no liaison) marked as the branch's own
    and first; the branch's own tab shows bob only; done, the task is the doer's."""
    ids = _tasks(app, world)
    branch = login_as(client, "branch")
    page = branch.get("/admin/tasks").get_data(as_text=True)
    assert page.index("李建国") < page.index("王秀英")
    assert "张桂兰" not in page and "赵德明" not in page
    assert "本支部负责(无联络员)" in page
    own = branch.get("/admin/tasks?show=branch").get_data(as_text=True)
    assert "李建国" in own and "王秀英" not in own
    assert branch.post(f"/admin/tasks/{ids['bob']}/done", {"note": "家访"}).status_code == 302
    task = _task(app, ids["bob"])
    assert (task.done, task.user_id) == (True, world.users["branch"])
    township = login_as(client, "township").get("/admin/tasks").get_data(as_text=True)
    assert "张桂兰" in township and "王秀英" in township and "赵德明" not in township


def test_a_task_of_a_member_outside_the_scope_is_not_found(
    app: Flask, client: FlaskClient, world: World
) -> None:
    """The liaison cannot close bob's or carol's task, the west branch not alice's: 404, and
    nothing changes; a host organisation has no task page."""
    ids = _tasks(app, world)
    liaison = login_as(client, "liaison")
    for name in ("bob", "carol", "dave"):
        assert liaison.post(f"/admin/tasks/{ids[name]}/done", {"note": "x"}).status_code == 404
    assert liaison.post("/admin/tasks/999999/done", {"note": "x"}).status_code == 404
    west = login_as(client, "west")
    assert west.post(f"/admin/tasks/{ids['alice']}/done", {"note": "x"}).status_code == 404
    assert not any(_task(app, task_id).done for task_id in ids.values())
    host = login_as(client, "host")
    assert host.get("/admin/tasks").status_code == 403
    assert "/admin/tasks" not in host.get("/admin/").get_data(as_text=True)


def test_a_task_needs_a_note(app: Flask, client: FlaskClient, world: World) -> None:
    """An empty note is refused with the reason beside the task; the task stays open."""
    ids = _tasks(app, world)
    liaison = login_as(client, "liaison")
    response = liaison.post(f"/admin/tasks/{ids['alice']}/done", {"note": "  "})
    assert response.status_code == 400
    assert 'class="error"' in response.get_data(as_text=True)
    assert _task(app, ids["alice"]).done is False
