"""Surveys: the list, a new survey written in the browser (from the ready-made 五个摸清 or
blank), sending it, its results by branch with charts, and the exports."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from admin_ui.auth import STAFF, current_account, current_scope, record, require
from admin_ui.blueprint import bp
from admin_ui.charts import bars_svg
from admin_ui.forms import SurveyForm, options
from admin_ui.helpers import arg_int, arg_page, csv_response, xlsx_response
from admin_ui.i18n import DEFAULT_LANGUAGE, bilingual
from admin_ui.views.broadcasts import _target
from infra.db import get_session
from models import reads
from models.base import utcnow
from models.org import Organization
from models.scope import visible_branches
from models.survey import (
    CARD_FIELDS,
    MAX_QUESTIONS,
    QuestionKind,
    SurveyDraft,
    SurveyError,
    SurveyStatus,
    read_survey,
)
from models.survey_ops import add_survey, send_survey
from models.survey_ready import ready_made
from models.targets import TargetError, resolve_target

BLANK_ROWS = 3  # empty question rows offered below those written
CHOICE_SPLIT = " | "  # an option's Chinese and English on its line


def _org() -> Organization:
    org = get_session().get(Organization, current_account().user.org_id)
    if org is None:
        abort(404)
    return org


def _form(form: SurveyForm | None = None) -> SurveyForm:
    scope = current_scope()
    db = get_session()
    form = form or SurveyForm()
    form.branches.choices = options((b.id, b.name) for b in visible_branches(db, scope))
    form.cities.choices = options((c, c) for c in reads.members.member_cities(db, scope))
    form.hosts.choices = options(
        (h.id, h.name + (f" ({h.city})" if h.city else ""))
        for h in reads.members.member_hosts(db, scope)
    )
    form.industries.choices = options((i, i) for i in reads.members.member_industries(db, scope))
    earlier = reads.survey.surveys(db, scope, per_page=50).items
    form.nonresponders.choices = options(
        [(None, _("(anyone)"))] + [(s.id, f"#{s.id} {s.title}") for s in earlier if s.sent_at]
    )
    return form


def _choice_lines(choices: Any) -> str:
    """A choice's options as the form shows them: one a line, `中文 | English` when both."""
    lines = []
    for choice in choices or []:
        if isinstance(choice, dict):
            zh = str(choice.get("zh") or choice.get("text") or "")
            en = str(choice.get("en") or "")
            lines.append(f"{zh}{CHOICE_SPLIT}{en}" if en else zh)
        else:
            lines.append(str(choice))
    return "\n".join(lines)


def _rows_of(data: dict[str, Any]) -> list[dict[str, str]]:
    """A survey's questions as the form's rows."""
    return [
        {
            "text": str(q.get("text") or ""),
            "text_en": str(q.get("text_en") or ""),
            "kind": str(q.get("kind") or "choice"),
            "choices": _choice_lines(q.get("choices")),
            "field": str(q.get("field") or ""),
        }
        for q in data.get("questions") or []
        if isinstance(q, dict)
    ]


def _posted_rows() -> list[dict[str, str]]:
    """The question rows as posted, blank rows left out."""
    rows = []
    for index in range(MAX_QUESTIONS + BLANK_ROWS):
        row = {
            name: request.form.get(f"q-{index}-{name}", "").strip()
            for name in ("text", "text_en", "kind", "choices", "field")
        }
        if row["text"] or row["choices"]:
            rows.append(row)
    return rows


def _option(line: str) -> dict[str, str] | str:
    zh, _split, en = line.partition(CHOICE_SPLIT.strip())
    return {"zh": zh.strip(), "en": en.strip()} if en.strip() else zh.strip()


def _definition(form: SurveyForm, rows: list[dict[str, str]]) -> dict[str, Any]:
    """The survey as read_survey reads it, from the form and its rows."""
    questions = []
    for row in rows:
        question: dict[str, Any] = {"text": row["text"], "kind": row["kind"]}
        if row["text_en"]:
            question["text_en"] = row["text_en"]
        lines = [line.strip() for line in row["choices"].splitlines() if line.strip()]
        if lines:
            question["choices"] = [_option(line) for line in lines]
        if row["field"]:
            question["field"] = row["field"]
        questions.append(question)
    return {
        "title": form.title.data,
        "title_en": form.title_en.data or None,
        "questions": questions,
    }


def _field_label(key: str) -> str:
    field = CARD_FIELDS[key]
    from flask_babel import get_locale

    locale = get_locale()
    return field.en if locale is not None and locale.language == "en" else field.zh


def _editor(
    form: SurveyForm, rows: list[dict[str, str]], error: str | None = None, status: int = 200
) -> tuple[str, int]:
    return (
        render_template(
            "admin/survey_new.html",
            form=form,
            rows=rows + [{"kind": "choice"} for _ in range(BLANK_ROWS)],
            error=error,
            kinds=[
                (QuestionKind.CHOICE.value, _("Choice (one digit)")),
                (QuestionKind.NUMBER.value, _("Number")),
                (QuestionKind.TEXT.value, _("Text (a recording on a call)")),
            ],
            fields=[("", _("(none)"))] + [(key, _field_label(key)) for key in CARD_FIELDS],
        ),
        status,
    )


@bp.get("/surveys")
@require(*STAFF)
def surveys() -> str:
    """The surveys of the user's organisations, newest first."""
    page = reads.survey.surveys(get_session(), current_scope(), page=arg_page())
    return render_template("admin/surveys.html", page=page)


@bp.get("/surveys/new")
@require(*STAFF)
def survey_new() -> tuple[str, int]:
    """A new survey: the ready-made 五个摸清 (?start=ready) or blank."""
    form = _form()
    rows: list[dict[str, str]] = []
    if request.args.get("start") == "ready":
        data = ready_made()
        form.title.data = str(data.get("title") or "")
        form.title_en.data = str(data.get("title_en") or "")
        rows = _rows_of(data)
    return _editor(form, rows)


@bp.post("/surveys")
@require(*STAFF)
def survey_create() -> Response | tuple[str, int]:
    """Check the survey, store it and send it to its target."""
    db = get_session()
    form = _form(SurveyForm())
    rows = _posted_rows()
    if not form.validate_on_submit():
        return _editor(form, rows, status=400)
    try:
        draft: SurveyDraft = read_survey(_definition(form, rows))
    except SurveyError as exc:
        return _editor(form, rows, bilingual(exc), 400)
    spec = _target(
        form.branches.data or [],
        form.cities.data or [],
        form.nonreporters.data or "",
        form.hosts.data or [],
        form.industries.data or [],
    )
    if form.nonresponders.data:
        spec["survey_nonresponders"] = form.nonresponders.data
    org = _org()
    try:
        target = resolve_target(db, org, spec)
        survey = add_survey(
            db,
            org,
            current_account().user,
            draft,
            target=target,
            by_sms=bool(form.by_sms.data),
            by_call=bool(form.by_call.data),
            remind_after_days=int(form.remind_after_days.data or 3),
        )
        sent = send_survey(db, survey, utcnow())
    except (SurveyError, TargetError) as exc:
        db.rollback()
        return _editor(form, rows, bilingual(exc), 400)
    record("send", f"survey:{survey.id}", {"recipients": sent, "questions": len(draft.questions)})
    db.commit()
    flash(_("The survey is sent to %(count)s members.", count=sent), "success")
    return redirect(url_for("admin.survey_detail", survey_id=survey.id))


def _visible(survey_id: int) -> Any:
    survey = reads.survey.visible_survey(get_session(), current_scope(), survey_id)
    if survey is None:
        abort(404)
    return survey


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _cell(value: object, tag: str = "td") -> str:
    return f'<{tag} class="num">{escape(value)}</{tag}>'


def _figure(value: float | int | None, decimals: int = 0) -> str:
    return "" if value is None else f"{value:.{decimals}f}"


def branch_table(result: reads.survey.QuestionResults) -> Markup:
    """A question's answers by branch as an HTML table, written here rather than in the
    template: a township of 200 branches makes thousands of cells, which Jinja takes several
    times as long to write. Every name is escaped."""
    question = result.question
    head = [f"<th>{escape(_('Branch'))}</th>"]
    rows: list[str] = []
    if question.kind is QuestionKind.CHOICE:
        digits = range(1, len(result.labels) + 1)
        head += [
            f'<th class="num">{d}. {escape(label)}</th>'
            for d, label in zip(digits, result.labels, strict=True)
        ]
        head.append(f'<th class="num">{escape(_("Answers"))}</th>')
        for row in result.by_branch:
            cells = "".join(_cell(row.counts.get(d, 0)) for d in digits)
            rows.append(f"<tr><td>{escape(row.branch)}</td>{cells}{_cell(row.answered)}</tr>")
        cells = "".join(_cell(result.counts.get(d, 0), "th") for d in digits)
        rows.append(
            f'<tr class="total"><th>{escape(_("All"))}</th>{cells}{_cell(result.answered, "th")}</tr>'
        )
    else:
        names = (_("Answers"), _("Average"), _("Lowest"), _("Highest"))
        head += [f'<th class="num">{escape(name)}</th>' for name in names]

        def figures(stats: reads.survey.NumberStats, tag: str) -> str:
            return "".join(
                _cell(value, tag)
                for value in (
                    stats.count,
                    _figure(stats.average, 1),
                    _figure(stats.low),
                    _figure(stats.high),
                )
            )

        for row in result.by_branch:
            rows.append(f"<tr><td>{escape(row.branch)}</td>{figures(row.numbers, 'td')}</tr>")
        rows.append(
            f'<tr class="total"><th>{escape(_("All"))}</th>{figures(result.numbers, "th")}</tr>'
        )
    return Markup(
        '<div class="table-wrap"><table class="by-branch">'
        f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


@bp.get("/surveys/<int:survey_id>")
@require(*STAFF)
def survey_detail(survey_id: int) -> str:
    """A survey's figures and each question's answers by branch, with a chart per choice."""
    survey = _visible(survey_id)
    scope = current_scope()
    result = reads.survey.results(get_session(), survey, scope, text_page=arg_int("texts", 1) or 1)
    charts = {}
    for question in result.questions:
        if question.question.kind is QuestionKind.CHOICE:
            rows = [
                (f"{digit}. {label}", _share(question.counts.get(digit, 0), question.answered))
                for digit, label in enumerate(question.labels, 1)
            ]
            charts[question.question.id] = bars_svg(rows, question.question.text)
    return render_template(
        "admin/survey_detail.html",
        survey=survey,
        result=result,
        charts=charts,
        tables={
            q.question.id: branch_table(q)
            for q in result.questions
            if q.question.kind is not QuestionKind.TEXT
        },
        open=survey.status is SurveyStatus.OPEN,
    )


EXPORT_HEADER = (
    _l("Member"),
    _l("Branch"),
    _l("Question no."),
    _l("Question"),
    _l("Answer"),
    _l("Channel"),
    _l("Answered at"),
)


@bp.get("/surveys/<int:survey_id>/answers.<any(csv, xlsx):fmt>")
@require(*STAFF)
def survey_export(survey_id: int, fmt: str) -> Response:
    """Every answer the user may see, one row each, in member then question order."""
    survey = _visible(survey_id)
    db = get_session()
    with force_locale(DEFAULT_LANGUAGE):
        header = [str(name) for name in EXPORT_HEADER]
        rows = reads.survey.export_rows(db, survey, current_scope())
    record("export", f"survey:{survey.id}:{fmt}", {"rows": len(rows)})
    db.commit()
    filename = f"问卷-{survey.id}.{fmt}"
    if fmt == "csv":
        return csv_response(filename, header, rows)
    return xlsx_response(filename, survey.title, header, rows)
