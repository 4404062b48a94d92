"""`flask demo`: a demo township with branches, members, logins and six months of activity."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra.db import get_session
from models import (
    Broadcast,
    BroadcastStatus,
    Call,
    CallDirection,
    CallPurpose,
    CallStatus,
    Channel,
    ContactKind,
    ContactLog,
    Direction,
    HelpCategory,
    HostKind,
    Lesson,
    LessonCategory,
    LessonListen,
    Member,
    MembershipStatus,
    Message,
    MessageStatus,
    Organization,
    OrgKind,
    Recording,
    RecordingKind,
    Role,
    User,
    open_help_request,
    period_of,
    record_report,
    utcnow,
)
from models.approval import APPROVAL_KEY
from models.broadcast import create_broadcast
from models.deed import DeedStatus, TipTopic, decide_deed, mark_exemplar, record_deed
from models.fallback import plan_fallback_calls
from models.help_deadlines import sweep_deadlines
from models.inbound import find_sender, store_inbound
from models.message import open_conversation
from models.notice import NoticeChannel, record_notice
from models.rating import Grade, rate_member
from models.sql import Raw
from models.survey import QuestionKind, SurveyQuestion, read_survey
from models.survey_ops import add_survey, current_question, open_recipient, send_survey
from models.survey_ready import ready_made
from models.survey_sms import asked
from models.targets import Target
from models.user import set_password
from sms_flows.effects import Context, handle_sms
from sms_flows.keywords import parse

DEMO_PASSWORD = "demo1234"
TOWNSHIP = "青山镇党委"
BRANCHES = ("东村党支部", "西村党支部", "南村党支部")
HOSTS = (
    ("广州白云区流动党员党支部", HostKind.MIGRANT_BRANCH, "广州"),
    ("深圳宝安电子行业联合党支部", HostKind.JOINT_INDUSTRY, "深圳"),
    ("东莞长安镇社区党委", HostKind.COMMUNITY, "东莞"),
)
# username, role, organisation, display name
LOGINS = (
    ("township", Role.TOWNSHIP, TOWNSHIP, "镇远程办"),
    ("dongcun", Role.BRANCH, "东村党支部", "东村支书"),
    ("xicun", Role.BRANCH, "西村党支部", "西村支书"),
    ("nancun", Role.BRANCH, "南村党支部", "南村支书"),
    ("liaison", Role.LIAISON, "东村党支部", "东村联络员李红"),
    ("host", Role.HOST, HOSTS[0][0], "白云区流动党支部"),
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = (
    "建国",
    "秀英",
    "志强",
    "桂兰",
    "海燕",
    "国华",
    "小龙",
    "春梅",
    "德明",
    "丽娟",
    "永红",
    "文斌",
)
JOBS = (
    ("广州", "广东", "电子厂", "制造业", "普工"),
    ("深圳", "广东", "富士康", "制造业", "技术员"),
    ("东莞", "广东", "鞋厂", "制造业", "质检员"),
    ("杭州", "浙江", "快递公司", "物流", "快递员"),
    ("上海", "上海", "建筑公司", "建筑业", "钢筋工"),
    ("北京", "北京", "家政公司", "服务业", "保洁员"),
    ("苏州", "江苏", "纺织厂", "制造业", "挡车工"),
    ("宁波", "浙江", "港口物流", "物流", "叉车司机"),
)
LESSONS = (
    ("农民工工资支付条例解读", LessonCategory.POLICY),
    ("外出务工劳动合同要点", LessonCategory.POLICY),
    ("设施蔬菜种植技术", LessonCategory.SKILLS),
    ("返乡创业典型经验", LessonCategory.EXPERIENCE),
    ("2026年用工市场信息", LessonCategory.MARKET),
    ("冬季防病知识", LessonCategory.SCIENCE),
)


@click.group(
    "demo",
    cls=AppGroup,
    invoke_without_command=True,
    help="Load the demo township (no subcommand), or print its logins.",
)
@click.option("--if-empty", is_flag=True, help="Only when the database has no organisations.")
@click.pass_context
def demo_cli(ctx: click.Context, if_empty: bool) -> None:
    """Load the demo data when no subcommand is given."""
    if ctx.invoked_subcommand is None:
        _load(if_empty)


def is_empty(session: Session) -> bool:
    """Whether the database has no organisations yet."""
    return not session.scalar(select(func.count()).select_from(Organization))


def load_demo(session: Session, now: datetime | None = None, seed: int = 7) -> int:
    """Write the demo township; returns the number of members."""
    rng = random.Random(seed)
    now = now or utcnow()
    township = Organization(name=TOWNSHIP, kind=OrgKind.TOWNSHIP, timezone="Asia/Shanghai")
    session.add(township)
    session.flush()
    branches = []
    for name in BRANCHES:
        branch = Organization(name=name, kind=OrgKind.BRANCH, parent_id=township.id)
        session.add(branch)
        branches.append(branch)
    hosts = []
    for name, host_kind, city in HOSTS:
        host = Organization(
            name=name, kind=OrgKind.HOST, host_kind=host_kind, city=city, parent_id=township.id
        )
        session.add(host)
        hosts.append(host)
    session.flush()
    orgs = {o.name: o for o in (township, *branches, *hosts)}
    users = {}
    for username, role, org_name, display in LOGINS:
        user = User(username=username, role=role, org_id=orgs[org_name].id, display_name=display)
        set_password(user, DEMO_PASSWORD)
        session.add(user)
        users[username] = user
    session.flush()

    lessons = []
    for index, (title, category) in enumerate(LESSONS):
        lesson = Lesson(
            org_id=township.id,
            title=title,
            category=category,
            transcript=f"{title}。本课时长约五分钟。",
            duration=300,
            created_at=now - timedelta(days=30 * (len(LESSONS) - index)),
        )
        session.add(lesson)
        lessons.append(lesson)

    members = []
    for number in range(1, 61):
        branch = branches[(number - 1) % 3]
        city, province, employer, industry, occupation = JOBS[rng.randrange(len(JOBS))]
        host_org = next((h for h in hosts if h.city == city), None)
        member = Member(
            name=SURNAMES[number % len(SURNAMES)] + GIVEN[number % len(GIVEN)],
            phone=f"+86138{number:08d}",
            branch_id=branch.id,
            host_org_id=host_org.id if host_org else None,
            status=MembershipStatus.PROBATIONARY if number % 9 == 0 else MembershipStatus.FULL,
            sex="女" if number % 3 == 0 else "男",
            birth_year=1965 + rng.randrange(35),
            education=rng.choice(("初中", "高中", "中专", "大专")),
            occupation=occupation,
            industry=industry,
            employer=employer,
            city=city,
            province=province,
            departure_date=date(2015 + rng.randrange(10), rng.randrange(1, 13), 1),
            reason=rng.choice(("务工", "经商", "随子女")),
            card_no=f"LD{2024000 + number}",
            liaison_id=users["liaison"].id if branch.name == "东村党支部" else None,
            created_at=now - timedelta(days=400),
        )
        session.add(member)
        members.append(member)
    session.flush()
    for member in members:  # told what is kept when registered, as a register import records
        record_notice(session, member.id, NoticeChannel.REGISTER, member.created_at)

    periods = [(now.replace(day=15) - timedelta(days=30 * k)) for k in range(6, 0, -1)]
    for member in members:
        diligence = rng.random()
        for at in periods:
            if rng.random() < 0.35 + diligence * 0.6:
                channel = Channel.SMS if rng.random() < 0.7 else Channel.IVR
                record_report(
                    session,
                    member,
                    period=period_of(at),
                    studied=rng.random() < 0.8,
                    channel=channel,
                    at=at,
                )
                if channel is Channel.SMS:
                    session.add(
                        Message(
                            direction=Direction.IN,
                            member_id=member.id,
                            phone=member.phone,
                            body="HB 1",
                            status=MessageStatus.RECEIVED,
                            command="report",
                            handled=True,
                            created_at=at,
                        )
                    )
                else:
                    session.add(
                        Call(
                            direction=CallDirection.INBOUND,
                            member_id=member.id,
                            phone=member.phone,
                            flow="report",
                            status=CallStatus.COMPLETED,
                            duration=60 + rng.randrange(120),
                            created_at=at,
                            ended_at=at + timedelta(minutes=2),
                        )
                    )
    texts = (
        (HelpCategory.WAGES, "老板拖欠工资三个月了"),
        (HelpCategory.SCHOOLING, "孩子在深圳上学需要什么手续"),
        (HelpCategory.HOUSING, "宿舍要拆了，想问租房补贴"),
        (HelpCategory.JOBS, "厂里裁员，想找新工作"),
        (HelpCategory.DOCUMENTS, "居住证过期了怎么办"),
    )
    for index, (help_category, text) in enumerate(texts):
        member = members[index * 7]
        open_help_request(
            session,
            member,
            category=help_category,
            text=text,
            channel=Channel.SMS,
            at=now - timedelta(days=3 + index * 5),
        )
    session.add(
        Message(
            direction=Direction.IN,
            member_id=None,
            phone="+8613999990000",
            body="我是东村的王大力，换了新号码",
            status=MessageStatus.RECEIVED,
            command="unknown",
            created_at=now - timedelta(days=2),
        )
    )
    recording_call = Call(
        direction=CallDirection.INBOUND,
        member_id=members[1].id,
        phone=members[1].phone,
        flow="message",
        status=CallStatus.COMPLETED,
        duration=45,
        created_at=now - timedelta(days=1),
    )
    session.add(recording_call)
    session.flush()
    session.add(
        Recording(
            call_id=recording_call.id,
            member_id=members[1].id,
            phone=members[1].phone,
            kind=RecordingKind.MESSAGE,
            url=current_app.config["SANDBOX_URL"] + "/_sandbox/recordings/demo.wav",
            duration=12,
            created_at=now - timedelta(days=1),
        )
    )
    _follow_up_demo(session, township, branches[0], users, members, lessons, now)
    for member in members[:9]:
        session.add(
            ContactLog(
                member_id=member.id,
                user_id=users["liaison"].id,
                kind=ContactKind.MONTHLY_CONTACT,
                period=period_of(now),
                contact_date=now.date(),
                note="电话联系，工作稳定",
            )
        )
    _activities(session, rng, now, members, branches, users)
    _survey_demo(session, rng, township, users["township"], members, now)
    return len(members)


# Answers the demo's members text to the ready-made survey's text questions, by card field.
_TEXT_ANSWERS = {
    "other_phone": ("无", "13912345678", "无", "家里座机0731-5551234"),
    "occupation": ("普工", "电工", "厨师", "快递员", "保洁员", "司机"),
}


def _survey_demo(
    session: Session,
    rng: random.Random,
    township: Organization,
    author: User,
    members: list[Member],
    now: datetime,
) -> None:
    """The ready-made 五个摸清 survey, sent four days ago to the whole township; about half
    the members answered by SMS (each question opened as the tick opens it, each answer
    carried out by the real SMS step and its effects), some of them only part of it."""
    sent_at = now - timedelta(days=4)
    survey = add_survey(
        session, township, author, read_survey(ready_made()), target=Target(), by_call=True
    )
    send_survey(session, survey, sent_at)
    questions = list(survey.questions)
    session.flush()
    connection = session.connection()
    raw = Raw.of(connection)
    answering = [m for m in members if rng.random() < 0.5]
    for number, member in enumerate(answering):
        stop = len(questions) if rng.random() < 0.7 else rng.randrange(2, len(questions))
        at = sent_at + timedelta(hours=1 + number % 48)
        for _ in range(stop):
            recipient = open_recipient(session, member.id)
            question = None if recipient is None else current_question(session, recipient)
            if question is None:
                break
            open_conversation(
                session, member.id, asked(question, len(questions)), now=at, ttl_hours=72
            )
            body = _demo_answer(rng, member, question)
            sender = find_sender(raw, member.phone, at)
            context = Context(
                raw=raw,
                connection=connection,
                phone=member.phone,
                sender=sender,
                now=at,
                ttl_hours=72,
                region="CN",
                callbacks_per_day=3,
            )
            try:
                done = handle_sms(context, parse(body))
            finally:
                context.release()
            store_inbound(
                raw,
                sid=f"SMdemo{survey.id}x{member.id}x{question.id}",
                phone=member.phone,
                body=body,
                member_id=member.id,
                broadcast_id=None,
                command=done.command,
                handled=done.handled,
                reply_body=done.reply.render(member.language.value),
                at=at,
            )
            session.expire_all()  # the step's own session moved the recipient on
            at += timedelta(minutes=7)
    session.expire_all()


def _demo_answer(rng: random.Random, member: Member, question: SurveyQuestion) -> str:
    """What a demo member texts back to a question of the ready-made survey."""
    if question.kind is QuestionKind.CHOICE:
        return str(1 + rng.randrange(len(question.choices)))
    if question.kind is QuestionKind.NUMBER:
        return str(2008 + rng.randrange(17))
    if question.field == "city":
        return member.city or "广州"
    if question.field == "employer":
        return member.employer or "电子厂"
    choices = _TEXT_ANSWERS.get(question.field or "", ("在外务工",))
    return choices[rng.randrange(len(choices))]


DEED_TEXTS = {
    2: ("做通了弟弟的思想工作，他同意回村参加党课", "说服同乡按时交党费", "劝回了想退党的老党员"),
    3: ("介绍工友小陈写了入党申请书", "带同厂青年参加流动党支部活动"),
    4: ("帮同乡在东莞电子厂找到工作", "介绍两名村民到深圳工地务工", "帮邻居办好了务工证明"),
    5: ("给村小学捐了二十本图书", "为困难户张大爷联系了医疗救助", "出资修了村口的路灯"),
}
TIPS = (
    (TipTopic.FARMING, "县里对香菇大棚有补贴，每亩两千元，找镇农技站报名"),
    (TipTopic.JOBS, "东莞长安镇电子厂招普工，包吃住，月薪五千左右"),
    (TipTopic.BUSINESS, "返乡开农家乐可申请十万元创业贴息贷款"),
    (TipTopic.MARKET, "今年广州批发市场土鸡价格涨了两成，可以多养"),
    (TipTopic.FARMING, "稻田养虾一亩多收三千元，技术可找南村老刘"),
    (TipTopic.JOBS, "深圳龙华快递分拣招工，不要求学历"),
    (TipTopic.OTHER, "外出务工记得办居住证，孩子上学用得上"),
)


def _activities(
    session: Session,
    rng: random.Random,
    now: datetime,
    members: list[Member],
    branches: list[Organization],
    users: dict[str, User],
) -> None:
    """A year of deeds for home and tips: most confirmed, some declined, some still waiting;
    tips heard on the board; a few ratings and an exemplary mark."""
    deciders = {
        branch.id: users[name]
        for branch, name in zip(branches, ("dongcun", "xicun", "nancun"), strict=True)
    }
    for index, member in enumerate(members):
        for _ in range(rng.randrange(4)):
            at = now - timedelta(days=1 + rng.randrange(360))
            item = rng.randrange(1, 6)
            if item == 1:
                topic, text = TIPS[rng.randrange(len(TIPS))]
            else:
                topic, text = None, rng.choice(DEED_TEXTS[item])
            deed = record_deed(
                session,
                member=member,
                item=item,
                text=text,
                channel=Channel.SMS,
                at=at,
                topic=topic,
            )
            fate = rng.random()
            if fate < 0.2 and at > now - timedelta(days=30):
                continue  # still waiting for the branch
            decide_deed(
                session,
                deed,
                confirm=fate >= 0.1,
                reason="" if fate >= 0.1 else "核实后情况不符",
                user_id=deciders[member.branch_id].id,
                user_member_id=None,
                org_id=member.branch_id,
                now=at + timedelta(days=2),
            )
            if deed.is_tip and deed.status is DeedStatus.CONFIRMED:
                deed.listens = rng.randrange(40)
        if index % 11 == 0:
            rate_member(
                session,
                member.id,
                now.year,
                Grade.EXCELLENT if index % 22 == 0 else Grade.QUALIFIED,
                "按时汇报，积极为家乡办实事",
                deciders[member.branch_id].id,
                now=now - timedelta(days=1),
            )
    mark_exemplar(
        session,
        members[0].id,
        now.year,
        "帮三名同乡找到工作，捎回两条致富信息",
        deciders[members[0].branch_id].id,
        now=now - timedelta(days=1),
    )
    record_deed(
        session,
        member=None,
        item=1,
        text="镇里下月举办电商培训，想在网上卖土特产的可报名",
        channel=Channel.ADMIN,
        at=now - timedelta(days=1),
        topic=TipTopic.BUSINESS,
        author_id=users["township"].id,
        org_id=branches[0].id,
    )


def _follow_up_demo(
    session: Session,
    township: Organization,
    east: Organization,
    users: dict[str, User],
    members: list[Member],
    lessons: list[Lesson],
    now: datetime,
) -> None:
    """What follows up by itself (issue 15): a wages request past both deadlines, a notice
    over the township's threshold waiting for approval, an essential notice whose text failed
    and became an answered call, a failed reminder whose call waits for the window, and a
    lesson left half heard (the first member, +8613800000001, is offered to continue)."""
    open_help_request(
        session,
        members[3],
        category=HelpCategory.WAGES,
        text="年底了工资还没结，老板说等等",
        channel=Channel.SMS,
        at=now - timedelta(days=20),
    )
    sweep_deadlines(session, township, now)
    township.settings = {
        **(township.settings or {}),
        APPROVAL_KEY: {"members": 10, "cost": None, "township_own": False},
    }
    session.flush()
    create_broadcast(
        session,
        org=east,
        author_id=users["dongcun"].id,
        text="本月25日前请回复HB汇报近况，春节回村的同志请到村委会报到",
        target=None,
        scheduled_at=None,
        now=now,
    )
    essential = Broadcast(
        org_id=township.id,
        author_id=users["township"].id,
        text="寒潮预警：明天起气温骤降，请在外务工的同志注意防寒",
        status=BroadcastStatus.DONE,
        recipients=1,
        essential=True,
        created_at=now - timedelta(days=1),
        finished_at=now - timedelta(days=1),
    )
    session.add(essential)
    session.flush()
    told = members[5]
    failed = Message(
        direction=Direction.OUT,
        member_id=told.id,
        phone=told.phone,
        body=essential.text,
        template_key="broadcast",
        params={"text": essential.text},
        broadcast_id=essential.id,
        status=MessageStatus.UNDELIVERED,
        error_code="30003",
        created_at=now - timedelta(days=1),
        status_at=now - timedelta(days=1),
    )
    reminder = Message(
        direction=Direction.OUT,
        member_id=members[8].id,
        phone=members[8].phone,
        body=f"{members[8].name}您好，请汇报本月情况",
        template_key="reminder",
        params={"name": members[8].name, "month": str(now.month)},
        status=MessageStatus.FAILED,
        error_code="30006",
        created_at=now - timedelta(hours=2),
        status_at=now - timedelta(hours=2),
    )
    session.add_all([failed, reminder])
    session.flush()
    session.add(
        Call(
            direction=CallDirection.OUTBOUND,
            member_id=told.id,
            phone=told.phone,
            purpose=CallPurpose.NOTICE,
            message_id=failed.id,
            status=CallStatus.COMPLETED,
            answered_by="human",
            duration=40,
            created_at=now - timedelta(hours=20),
            ended_at=now - timedelta(hours=20),
        )
    )
    plan_fallback_calls(session, now)  # the failed reminder's call, for the member's window
    session.add(
        LessonListen(
            member_id=members[0].id,
            lesson_id=lessons[0].id,
            seconds=120,
            position=120,
            completed=False,
            listened_at=now - timedelta(days=2),
        )
    )


def _load(if_empty: bool) -> None:
    session = get_session()
    if not is_empty(session):
        if if_empty:
            click.echo("database not empty: demo data not loaded")
            return
        raise click.ClickException("database not empty: demo data only goes into an empty one")
    count = load_demo(session)
    session.commit()
    click.echo(f"demo loaded: {TOWNSHIP}, {len(BRANCHES)} branches, {count} members")


@demo_cli.command("logins")
def logins_command() -> None:
    """Print the demo logins, one per role."""
    for username, role, org_name, _display in LOGINS:
        click.echo(f"  {role.value:<9} {username:<9} / {DEMO_PASSWORD}   ({org_name})")
