"""`flask templates pending` and `flask templates check`: what to submit to each provider, and
the registry checked so that a bad edit fails `make test`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner

from gateway.cli_templates import templates_cli
from models.sms_templates import PROVIDERS, REGISTRY_PATH, pending


@pytest.fixture
def cli() -> FlaskCliRunner:
    """The `templates` group on a bare app: it reads files only, no database."""
    app = Flask(__name__)
    app.cli.add_command(templates_cli)
    return app.test_cli_runner()


def run(cli: FlaskCliRunner, *args: str) -> Result:
    """Run `flask templates ...`."""
    return cli.invoke(args=["templates", *args])


def edited_file(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the shipped registry with one piece of text replaced."""
    text = REGISTRY_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "sms_templates.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_check_passes_on_the_shipped_registry(runner: FlaskCliRunner) -> None:
    """The app's own `flask templates check` accepts the registry as shipped (so a bad edit to
    models/sms_templates.toml fails the suite)."""
    result = runner.invoke(args=["templates", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("template registry ok: 52 keys,")


def test_check_names_each_problem_and_exits_1(cli: FlaskCliRunner, tmp_path: Path) -> None:
    """Adjacent variables and a refused word: one line each, exit status 1."""
    path = edited_file(
        tmp_path,
        'text = "${name}您好,${month}月汇报还没收到,回复1学了或2没学即可"',
        'text = "${name}${month}月维权汇报还没收到,回复1学了或2没学即可"',
    )
    result = run(cli, "check", "--file", str(path))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    for provider in PROVIDERS:
        assert (
            f"{provider} reminder_second: variables ${{name}} and ${{month}} are adjacent: "
            "put words between"
        ) in lines
        assert f"{provider} reminder_second: contains '维权', which the providers refuse" in lines
    assert "4 problem(s) in the template registry" in result.stderr


def test_check_refuses_a_file_that_is_not_a_registry(cli: FlaskCliRunner, tmp_path: Path) -> None:
    """Broken TOML is named, with exit status 1."""
    path = tmp_path / "broken.toml"
    path.write_text("[templates\n", encoding="utf-8")
    result = run(cli, "check", "--file", str(path))
    assert result.exit_code == 1
    assert "not valid TOML" in result.output


def test_pending_lists_every_template_to_submit_ready_to_paste(cli: FlaskCliRunner) -> None:
    """Each unapproved Alibaba template: category, ${name} text, a sample with the signature,
    and its counted length."""
    result = run(cli, "pending", "--provider", "aliyun")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"aliyun: {len(pending('aliyun'))} templates to approve"
    block = lines[lines.index("report_done  notification  (not submitted)") :][:6]
    assert block == [
        "report_done  notification  (not submitted)",
        "  signature: 青山镇",
        "  text:      ${name}您好,${month}月汇报已收到,回执${receipt}。谢谢!",
        "  sample:    【青山镇】欧阳建国您好,11月汇报已收到,回执K7M2QX。谢谢!",
        "  length:    33 characters with the signature, 1 message",
        "",
    ]
    assert (
        "  sample:    【青山镇】未能接通课程电话。回复XX 12将回电为您播放《工资支付条例解读》"
        in lines
    )
    assert "broadcast.4  notification  (not submitted)" in lines
    assert "phone_code  verification  (not submitted)" in lines


def test_pending_for_tencent_shows_positions(cli: FlaskCliRunner) -> None:
    """Tencent's text is positional, with the order of our parameter names beside it."""
    result = run(cli, "pending", "--provider", "tencent")
    assert result.exit_code == 0, result.output
    assert "  text:      {1}您好,{2}月汇报已收到,回执{3}。谢谢!" in result.output
    assert "  params:    {1} name, {2} month, {3} receipt" in result.output
    # Tencent sends a notice in one slot: no forms with more.
    assert "broadcast.2" not in result.output


def test_pending_counts_a_long_sample_in_messages_of_67(cli: FlaskCliRunner) -> None:
    """The four-slot notice, filled, runs past 70 and is counted in parts."""
    result = run(cli, "pending", "--provider", "aliyun")
    lines = result.output.splitlines()
    start = lines.index("broadcast.4  notification  (not submitted)")
    assert lines[start + 4] == "  length:    92 characters with the signature, 2 messages"


def test_an_approved_code_leaves_pending_and_a_submitted_one_waits(
    cli: FlaskCliRunner, tmp_path: Path
) -> None:
    """Recording the code and approved = true takes a template off the list; a code alone
    shows it as submitted."""
    text = REGISTRY_PATH.read_text(encoding="utf-8")
    menu = '[templates.menu]\ncategory = "notification"\n'
    assert menu in text
    text = text.replace(
        'aliyun = { code = "", approved = false }',
        'aliyun = { code = "SMS_100000001", approved = true }',
        1,
    ).replace(
        'aliyun = { code = "", approved = false }',
        'aliyun = { code = "SMS_100000002", approved = false }',
        1,
    )
    path = tmp_path / "sms_templates.toml"
    path.write_text(text, encoding="utf-8")
    result = run(cli, "pending", "--provider", "aliyun", "--file", str(path))
    assert result.exit_code == 0, result.output
    assert "\nmenu  notification" not in result.output
    assert "unmatched  notification  (code SMS_100000002, awaiting approval)" in result.output
    assert (
        result.output.splitlines()[0]
        == f"aliyun: {len(pending('aliyun')) - 1} templates to approve"
    )
    assert run(cli, "check", "--file", str(path)).exit_code == 0


def test_pending_lists_the_spoken_templates_each_provider_plays(cli: FlaskCliRunner) -> None:
    """The report question both providers speak, and Alibaba's answers to keys 1 and 2, are
    listed to submit after the SMS templates, with their spoken length."""
    lines = run(cli, "pending", "--provider", "tencent").output.splitlines()
    start = lines.index("report_question  voice  (not submitted)")
    assert lines[start + 1].startswith("  text:      您好,这里是村党支部的月度汇报电话。")
    assert "学习了请按1,没有学习请按2" in lines[start + 1]
    assert lines[start + 2].startswith("  length:    ") and "characters spoken" in lines[start + 2]
    assert "report_studied  voice  (not submitted)" not in lines
    aliyun = run(cli, "pending", "--provider", "aliyun").output.splitlines()
    for key in ("report_question", "report_studied", "report_not_studied"):
        assert f"{key}  voice  (not submitted)" in aliyun


def test_check_names_a_spoken_template_with_a_variable_or_a_refused_word(
    cli: FlaskCliRunner, tmp_path: Path
) -> None:
    """A call fills no parameters, and the refused words are refused when spoken too."""
    path = edited_file(tmp_path, "您好,这里是村党支部的月度汇报电话。", "${name}您好,维权电话。")
    result = run(cli, "check", "--file", str(path))
    assert result.exit_code == 1
    for provider in ("aliyun", "tencent"):
        assert (
            f"{provider} voice report_question: a spoken template has no variables: calls fill none"
            in result.output
        )
        assert f"{provider} voice report_question: contains '维权', which the providers refuse" in (
            result.output
        )


def test_check_names_a_spoken_template_missing_or_approved_without_a_code(
    cli: FlaskCliRunner, tmp_path: Path
) -> None:
    old = '[voice.report_studied]\ntext = "已记录:本月已学习。谢谢,再见。"\n'
    old += 'aliyun = { code = "", approved = false }'
    path = edited_file(tmp_path, old, "")
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            '请按2。"\naliyun = { code = "", approved = false }',
            '请按2。"\naliyun = { code = "", approved = true }',
        ),
        encoding="utf-8",
    )
    result = run(cli, "check", "--file", str(path))
    assert result.exit_code == 1
    assert "aliyun voice report_studied: no entry (its calls play it)" in result.output
    assert "aliyun voice report_question: approved but no code" in result.output
